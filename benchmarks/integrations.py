"""The kiosk's cost per frame and memory with every integration enabled, against
none, in the same run.

    .venv/bin/python benchmarks/integrations.py [--seconds 90] [--port 18790]

Each profile is a real ``kiosk run`` on a fresh data folder, with one person
(LFW's Colin Powell, enrolled from photo 1) walking up every 3 s from a
replayed camera at 15 fps (photo 2 for 1.5 s, then nobody), a punch each time
(``cooldown_seconds = 0``), liveness off (the walk-ups are flat photos):

- ``none``: ``[metrics]`` and ``[api]`` off, no webhooks, no MQTT;
- ``all``: /metrics scraped every 5 s; the REST API asked for the day's
  punches every 2 s with a read token; webhooks to a receiver on loopback;
  MQTT to a ``mosquitto`` started here, with one presence sensor per person.

Reported per profile: frames processed, the kiosk process's CPU time per frame
(everything the process did, divided by its frames: what an integration adds
to the loop's thread or beside it), its peak and current memory (VmHWM,
VmRSS), punches recorded, and for ``all`` the webhooks received and MQTT
messages seen. Needs LFW and, for ``all``, the ``mosquitto`` binary.
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.abuse import get_json, memory, start_kiosk, stop_kiosk, walk_up_frames  # noqa: E402
from tests.helpers import LFW_IMAGES  # noqa: E402

FPS = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (100 a second on Linux)


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append(self.headers.get("X-Kiosk-Event", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def mosquitto(folder: Path, port: int) -> subprocess.Popen | None:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        return None
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return broker


def mqtt_listener(port: int, seen: list[int]):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe([("homeassistant/#", 0), ("face-kiosk/#", 0)])
    client.on_message = lambda c, u, m: seen.__setitem__(0, seen[0] + 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def run_profile(name: str, seconds: float, port: int, photos: tuple[Path, Path]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        camera = walk_up_frames(folder / "camera", photos[1], FPS)
        config = (
            f"[kiosk]\ndata_dir = '{folder / 'data'}'\n[attendance]\ncooldown_seconds = 0\npunch_photo_days = 0\n"
            f"[recognition]\nvisit_gap_seconds = 0.5\nlearn_from_visits = false\n[liveness]\nmode = 'off'\n"
            f"[camera]\nsource = 'replay'\nreplay_path = '{camera}'\nloop = true\nfps = {FPS}\n"
        )
        extras: dict = {}
        if name == "none":
            config += "[metrics]\nenabled = false\n[api]\nenabled = false\n"
        else:
            receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            (folder / "webhook.key").write_text("a signing key for the benchmark\n")
            broker_port = free_port()
            broker = mosquitto(folder, broker_port)
            if broker is None:
                raise SystemExit("mosquitto not found: apt-get install mosquitto (or run scripts/test.sh's set-up)")
            extras = {"receiver": receiver, "broker": broker, "mqtt_seen": [0]}
            extras["listener"] = mqtt_listener(broker_port, extras["mqtt_seen"])
            config += (
                f"[webhooks]\nurls = ['http://127.0.0.1:{receiver.server_port}/hook']\n"
                f"secret_file = '{folder / 'webhook.key'}'\n"
                f"[mqtt]\nhost = '127.0.0.1'\nport = {broker_port}\nper_person = true\n"
            )
        (folder / "kiosk.toml").write_text(config)
        enrolled = subprocess.run(
            [sys.executable, "-m", "kiosk", "-c", str(folder / "kiosk.toml"), "enroll", "--name", "Colin", str(photos[0])],
            capture_output=True,
            text=True,
        )
        if enrolled.returncode != 0:
            raise SystemExit(f"could not enrol: {enrolled.stderr.strip()}")
        token = None
        if name == "all":
            from kiosk.api_tokens import ApiTokens
            from kiosk.store import Store

            store = Store(folder / "data" / "kiosk.db")
            token = ApiTokens(store).create("benchmark", ["read"])[1]
            store.close()
        kiosk = start_kiosk(folder, config, port)
        base = f"http://127.0.0.1:{port}"
        stop = threading.Event()

        def ask_all_the_time():
            due_metrics = due_api = 0.0
            while not stop.wait(0.2):
                now = time.monotonic()
                if now >= due_metrics:
                    urllib.request.urlopen(base + "/metrics", timeout=5).read()
                    due_metrics = now + 5
                if now >= due_api:
                    request = urllib.request.Request(base + "/api/v1/punches", headers={"Authorization": f"Bearer {token}"})
                    urllib.request.urlopen(request, timeout=5).read()
                    due_api = now + 2

        asker = threading.Thread(target=ask_all_the_time, daemon=True)
        try:
            time.sleep(5)  # models loaded, first frames through: measure the steady state
            frames0, cpu0 = get_json(base + "/status")[1]["frames"], cpu_seconds(kiosk.pid)
            if name == "all":
                asker.start()
            time.sleep(seconds)
            frames1, cpu1 = get_json(base + "/status")[1]["frames"], cpu_seconds(kiosk.pid)
            now_mb, peak = memory(kiosk.pid)
        finally:
            stop.set()
            code = stop_kiosk(kiosk)
        with sqlite3.connect(folder / "data" / "kiosk.db") as db:
            punches = db.execute("SELECT count(*) FROM attendance").fetchone()[0]
        figures = {
            "frames": frames1 - frames0,
            "cpu_ms_per_frame": round(1000 * (cpu1 - cpu0) / max(frames1 - frames0, 1), 2),
            "peak_mb": round(peak, 1),
            "rss_mb": round(now_mb, 1),
            "punches": punches,
            "exit_code": code,
        }
        if extras:
            time.sleep(1)
            figures["webhooks_received"] = len(Receiver.received)
            figures["mqtt_messages"] = extras["mqtt_seen"][0]
            extras["listener"].loop_stop()
            extras["receiver"].shutdown()
            extras["broker"].terminate()
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--port", type=int, default=18790)
    parser.add_argument("--out", help="write the figures as JSON here too")
    args = parser.parse_args()
    photos = (LFW_IMAGES / "Colin_Powell" / "Colin_Powell_0001.jpg", LFW_IMAGES / "Colin_Powell" / "Colin_Powell_0002.jpg")
    if not photos[0].is_file():
        raise SystemExit(f"LFW not found at {LFW_IMAGES}")
    figures = {name: run_profile(name, args.seconds, args.port, photos) for name in ("none", "all")}
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
