"""The hardening issue's attacks against a real kiosk on loopback, with the memory they cost.

    .venv/bin/python benchmarks/abuse.py [--port 18780]

Starts ``kiosk run --source none`` on a fresh data folder, then:
1. 40 parallel wrong-password logins from one address, each with its own
   session and CSRF token: peak memory, and how many passwords were actually
   checked (the kiosk logs each failed check);
2. 2 concurrent uploads of a maximum-size photo (just under the pixel cap)
   by an admin logged in from another loopback address: peak memory;
3. uploads of small files that decode huge (a lossless WebP, a TIFF, an icon
   holding a 36-megapixel PNG, that PNG itself): each answer and the peak
   over the memory before them (the issue asks under 150 MB).
Peak memory is the kernel's high-water mark (VmHWM) of the kiosk process,
read after each step; the baseline is read before the first.

Then two more kiosks of their own, each with a replayed camera:
4. half-open connections: the kiosk runs with its file limit at 256
   (``resource.setrlimit`` in the child, before it starts) and receives 1,000
   connections that send half a request line and stay open; it must live,
   keep counting frames and answer /healthz (its descriptors, threads and
   slowest answer are printed);
5. a full disk: the data folder on a 64 MB tmpfs (needs root; skipped with
   the reason otherwise), a person from LFW walking up every 3 s, the disk
   filled while punching and freed again: the kiosk must live, answer
   /healthz 503 while it cannot record, recover, and every punch it logged
   as recorded must be in the database (and no other).
"""

from __future__ import annotations

import argparse
import functools
import http.client
import http.cookiejar
import io
import os
import re
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from kiosk.enrollment import MAX_PIXELS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.helpers
from tests.helpers import LFW_IMAGES, format_bombs  # noqa: E402

PASSWORD = "a long enough secret"


def memory(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak(pid: int) -> None:
    """Linux resets VmHWM to the current size when '5' is written to clear_refs."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class FromAddress(urllib.request.HTTPHandler):
    """Connect from a chosen local address (loopback has many)."""

    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.source, 0)), req)


class Browser:
    """One client with its own cookie jar (its own session)."""

    def __init__(self, base: str, source: str = "127.0.0.1"):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), FromAddress(source)
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=120) as r:
            return r.read().decode()

    def token(self, path: str) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.get(path)).group(1)

    def post(self, path: str, data: bytes, content_type: str) -> int:
        request = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": content_type})
        try:
            with self.opener.open(request, timeout=300) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def login(self, password: str, token: str) -> int:
        return self.post(
            "/admin/login",
            urllib.parse.urlencode({"csrf_token": token, "password": password}).encode(),
            "application/x-www-form-urlencoded",
        )


def multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "----abuse" + os.urandom(8).hex()
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def biggest_photo() -> bytes:
    """A smooth JPEG just under the pixel cap (about 1 MB on disk, like the audit's)."""
    width = 6100
    height = MAX_PIXELS // width - 1
    ramp = np.linspace(40, 220, width, dtype=np.float32)
    image = np.repeat(ramp[None, :, None], 3, axis=2).repeat(height, axis=0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def get_json(url: str, timeout: float = 10) -> tuple[int, dict, float]:
    """(status, body, seconds) of a JSON page; status 0 when nothing answered."""
    import json

    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read()), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), time.monotonic() - started
    except OSError:
        return 0, {}, time.monotonic() - started


def start_kiosk(folder: Path, config_text: str, port: int, file_limit: int | None = None) -> subprocess.Popen:
    """``kiosk run`` on ``folder`` (its data folder unless the config names one), waiting until it answers."""
    config = folder / "kiosk.toml"
    config.write_text(config_text + f"\n[web]\nport = {port}\n")
    env = dict(os.environ, KIOSK_DATA_DIR=str(folder / "data"))

    def limit_files():  # in the child, before the kiosk starts: what systemd's LimitNOFILE would do
        resource.setrlimit(resource.RLIMIT_NOFILE, (file_limit, file_limit))

    log = open(folder / "kiosk.log", "w")
    kiosk = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "-c", str(config), "run"],
        env=env,
        stdout=log,
        stderr=log,
        preexec_fn=limit_files if file_limit else None,
    )
    for _ in range(240):
        if get_json(f"http://127.0.0.1:{port}/healthz", 1)[0] or kiosk.poll() is not None:
            break
        time.sleep(0.5)
    return kiosk


def stop_kiosk(kiosk: subprocess.Popen) -> int:
    kiosk.terminate()
    try:
        return kiosk.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kiosk.kill()
        return kiosk.wait()


def process_counts(pid: int) -> tuple[int, int]:
    """(open descriptors, threads) of a process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


def noise_frames(folder: Path, count: int = 5) -> Path:
    """A few camera pictures with no face in them, for a replayed camera."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), np.uint8)).save(folder / f"frame{i:02d}.jpg")
    return folder


def half_open_connections(port: int, count: int = 1000) -> None:
    """4. The issue's attack: half-sent requests that never finish, against a kiosk limited to 256 files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 256)), hard))  # this side needs them
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        frames = noise_frames(folder / "camera")
        config = f"[camera]\nsource = 'replay'\nreplay_path = '{frames}'\nloop = true\nfps = 10.0\n"
        kiosk = start_kiosk(folder, config, port, file_limit=256)
        base = f"http://127.0.0.1:{port}"
        try:
            time.sleep(2)
            first = get_json(base + "/status")[1].get("frames", 0)
            fds, threads = process_counts(kiosk.pid)
            print(f"half-open connections: the kiosk started with {fds} files open of 256 and {threads} threads")
            opened, refused = [], 0
            started = time.monotonic()
            for _ in range(count):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=2)
                    s.sendall(b"GET / HTTP/1.1\r\nHo")
                    opened.append(s)
                except OSError:
                    refused += 1
            most_fds, most_threads, slowest, failed = fds, threads, 0.0, 0
            while time.monotonic() - started < 15:
                code, _, took = get_json(base + "/healthz", 10)
                failed += code != 200
                slowest = max(slowest, took)
                fds, threads = process_counts(kiosk.pid)
                most_fds, most_threads = max(most_fds, fds), max(most_threads, threads)
                time.sleep(0.5)
            alive = kiosk.poll() is None
            frames = get_json(base + "/status")[1].get("frames", 0)
            for s in opened:
                s.close()
            errors = Path(folder / "kiosk.log").read_text().count("Too many open files")
            print(
                f"{len(opened)} half-open connections ({refused} not accepted) held for 15 s: kiosk alive: {alive}; "
                f"at most {most_fds} files open and {most_threads} threads; /healthz: {failed} failed, slowest "
                f"{slowest * 1000:.0f} ms; frames counted meanwhile: {frames - first}; 'Too many open files': {errors}"
            )
        finally:
            stop_kiosk(kiosk)


def walk_up_frames(folder: Path, photo: Path, fps: float) -> Path:
    """A camera loop of 3 s: the person's photo in the middle of the picture for 1.5 s, then nobody for 1.5 s."""
    folder.mkdir(parents=True, exist_ok=True)
    face = Image.open(photo).convert("RGB")
    canvas = Image.new("RGB", (640, 480), (90, 90, 90))
    canvas.paste(face, ((640 - face.width) // 2, (480 - face.height) // 2))
    empty = Image.new("RGB", (640, 480), (90, 90, 90))
    half = int(1.5 * fps)
    for i in range(2 * half):
        (canvas if i < half else empty).save(folder / f"frame{i:03d}.jpg")
    return folder


def full_disk(port: int) -> None:
    """5. The data folder's disk fills while people punch, and is freed again."""
    if os.geteuid() != 0:
        print("full disk: skipped (mounting a small tmpfs needs root)")
        return
    photo = LFW_IMAGES / "Colin_Powell" / "Colin_Powell_0001.jpg"
    if not photo.is_file():
        print(f"full disk: skipped (no LFW photo at {photo})")
        return
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        disk = folder / "disk"
        disk.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(disk)], capture_output=True)
        if mounted.returncode != 0:
            print(f"full disk: skipped (cannot mount a tmpfs: {mounted.stderr.decode().strip()})")
            return
        kiosk = None
        try:
            data = disk / "data"
            config_text = (
                f"[kiosk]\ndata_dir = '{data}'\nmin_free_mb = 5\n[attendance]\ncooldown_seconds = 0\n"
                f"[recognition]\nvisit_gap_seconds = 0.5\n[camera]\nsource = 'replay'\n"
                f"replay_path = '{walk_up_frames(folder / 'camera', photo, 10.0)}'\nloop = true\nfps = 10.0\n"
            )
            (folder / "kiosk.toml").write_text(config_text)
            enrolled = subprocess.run(
                [sys.executable, "-m", "kiosk", "-c", str(folder / "kiosk.toml"), "enroll", "--name", "Colin", str(photo)],
                capture_output=True,
                text=True,
            )
            if enrolled.returncode != 0:
                print(f"full disk: could not enrol ({enrolled.stderr.strip()})")
                return
            kiosk = start_kiosk(folder, config_text, port)
            base = f"http://127.0.0.1:{port}"
            log = folder / "kiosk.log"

            def punches() -> int:
                return len(re.findall(r"punch (in|out) for employee", log.read_text()))

            deadline = time.monotonic() + 60
            while punches() < 3 and time.monotonic() < deadline:
                time.sleep(0.5)
            before = punches()
            filler = disk / "filler"
            with open(filler, "wb") as f:  # the disk fills while the door punches
                try:
                    while True:
                        f.write(b"\0" * 2**20)
                        f.flush()
                except OSError:
                    pass
            time.sleep(12)  # a few more visits, and the heartbeat's look at the disk
            code, health, _ = get_json(base + "/healthz")
            frames = get_json(base + "/status")[1].get("frames", 0)
            alive_full = kiosk.poll() is None
            refused = log.read_text().count("could not record a punch")
            filler.unlink()  # space returns
            recovered_after = None
            started = time.monotonic()
            while time.monotonic() - started < 30:
                if get_json(base + "/healthz")[0] == 200:
                    recovered_after = time.monotonic() - started
                    break
                time.sleep(0.5)
            at_recovery = punches()
            while punches() < at_recovery + 2 and time.monotonic() - started < 40:
                time.sleep(0.5)
            frames_after = get_json(base + "/status")[1].get("frames", 0)
            exit_code = stop_kiosk(kiosk)
            kiosk = None
            logged = punches()
            db = sqlite3.connect(data / "kiosk.db")
            stored = db.execute("SELECT COUNT(*) FROM attendance WHERE kind = 'punch'").fetchone()[0]
            db.close()
            recovery = f"after {recovered_after:.1f} s" if recovered_after is not None else "NOT"
            print(
                f"full disk: {before} punches before it filled; while full: alive {alive_full}, /healthz {code} "
                f"({health.get('reason', '')[:60]}...), {refused} punches refused on screen, frames still counted "
                f"({frames} then {frames_after}); recovered {recovery} "
                f"once freed; {logged} punches acknowledged in all, {stored} in the database "
                f"({'none lost' if stored == logged else 'MISMATCH'}); exit code {exit_code}"
            )
        finally:
            if kiosk is not None:
                stop_kiosk(kiosk)
            subprocess.run(["umount", "-l", str(disk)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=18780)
    parser.add_argument("--only", choices=["half-open", "full-disk"], help="run one of the last two scenarios alone")
    args = parser.parse_args()
    if args.only == "half-open":
        half_open_connections(args.port + 1)
        return 0
    if args.only == "full-disk":
        full_disk(args.port + 2)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, KIOSK_DATA_DIR=folder)
        subprocess.run(
            [sys.executable, "-m", "kiosk", "admin", "set-password", "--password-stdin"],
            input=PASSWORD + "\n",
            text=True,
            env=env,
            check=True,
        )
        config = Path(folder) / "kiosk.toml"
        config.write_text(f"[camera]\nsource = 'none'\n[web]\nport = {args.port}\n")
        log = open(Path(folder) / "kiosk.log", "w")
        kiosk = subprocess.Popen([sys.executable, "-m", "kiosk", "-c", str(config), "run"], env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            time.sleep(1)
            rss, _ = memory(kiosk.pid)
            print(f"kiosk started: {rss:.0f} MB resident (admin-only, the default model loaded)")

            # 1. 40 parallel wrong logins, each its own session and token
            reset_peak(kiosk.pid)
            browsers = [Browser(base) for _ in range(40)]
            tokens = [b.token("/admin/login") for b in browsers]
            codes: list[int] = []
            threads = [
                threading.Thread(target=lambda b=b, t=t: codes.append(b.login("wrong guess", t)))
                for b, t in zip(browsers, tokens, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(0.5)
            _, peak = memory(kiosk.pid)
            checked = Path(log.name).read_text().count("failed admin login")
            print(
                f"40 parallel wrong logins: peak {peak:.0f} MB; passwords checked: {checked}; "
                f"answers: {codes.count(401)} x 401 wrong password, {codes.count(429)} x 429 too many attempts"
            )

            # 2. two concurrent maximum-size uploads
            admin = Browser(base, source="127.0.0.2")  # another address: the flood above has used this one's attempts
            photo = biggest_photo()
            status = admin.login(PASSWORD, admin.token("/admin/login"))
            if status not in (200, 302):
                print(f"could not log in for the upload test (status {status})")
                return 1
            reset_peak(kiosk.pid)
            results: list[int] = []

            def upload(name: str) -> None:
                body, kind = multipart({"csrf_token": admin.token("/admin/"), "name": name}, "photo", "big.jpg", photo)
                results.append(admin.post("/admin/enroll", body, kind))

            uploads = [threading.Thread(target=upload, args=(f"Upload {i}",)) for i in range(2)]
            for t in uploads:
                t.start()
            for t in uploads:
                t.join()
            _, peak = memory(kiosk.pid)
            print(
                f"2 concurrent {MAX_PIXELS / 1e6:.0f}-megapixel uploads ({len(photo) / 1e6:.1f} MB each): peak {peak:.0f} MB; "
                f"answers {sorted(results)} (422: no face in a gradient, as expected)"
            )

            # 3. small files that decode huge, one after another
            before, _ = memory(kiosk.pid)
            reset_peak(kiosk.pid)
            for name, data in format_bombs().items():
                body, kind = multipart({"csrf_token": admin.token("/admin/"), "name": "Bomb"}, "photo", f"bomb.{name}", data)
                status = admin.post("/admin/enroll", body, kind)
                _, peak = memory(kiosk.pid)
                print(
                    f"{name} bomb ({len(data):,} bytes): answer {status}; peak {max(peak - before, 0):.0f} MB over the {before:.0f} MB before"
                )
        finally:
            kiosk.terminate()
            kiosk.wait(timeout=30)
            log.close()
    half_open_connections(args.port + 1)
    full_disk(args.port + 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
