"""Home Assistant over MQTT (kiosk/mqtt_bridge.py), against a real mosquitto
broker started on a free port: the discovery configs, state updates after
punches and camera changes, names only with per_person, a password-protected
broker, the last will, and a broker that dies and comes back."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from kiosk.config import AttendanceSettings, ConfigError
from kiosk.integration_settings import MqttSettings
from kiosk.mqtt_bridge import MqttBridge, check_settings
from kiosk.status import Screen, Status
from kiosk.store import Store
from tests.helpers import application
from tests.postgres_server import free_port

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
PASSWD = shutil.which("mosquitto_passwd")
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="needs Debian's mosquitto broker (apt install mosquitto; scripts/test.sh installs it as root)"
)
NAMES = ("Ana Lima", "Ben Ode")
NOON = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
CONFIGS = ("sensor/face-kiosk/camera", "sensor/face-kiosk/people_in", "sensor/face-kiosk/last_punch")


class Broker:
    """A mosquitto of our own on ``port``, without persistence (a restart forgets every retained message)."""

    def __init__(self, folder: Path, port: int, password_file: Path | None = None, extra: tuple[str, ...] = ()):
        self.port = port
        self.conf = folder / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "persistence false", "user root"]  # root: it may read tmp_path
        lines += [f"password_file {password_file}", "allow_anonymous false"] if password_file else ["allow_anonymous true"]
        lines += extra  # more listeners
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read().decode()
                time.sleep(0.05)
        raise AssertionError("mosquitto did not listen within 10 s")

    def kill(self) -> None:
        """Gone at once, as a crash: no client is told."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)
        self.process.stderr.close()


@pytest.fixture
def broker(tmp_path):
    made: list[Broker] = []

    def make(password_file: Path | None = None, port: int | None = None, extra: tuple[str, ...] = ()) -> Broker:
        made.append(Broker(tmp_path, port or free_port(), password_file, extra).start())
        return made[-1]

    yield make
    for one in made:
        if one.process.poll() is None:
            one.kill()


class Listener:
    """A Home Assistant stand-in: subscribes to everything and keeps each message (topic, payload, retained)."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([("homeassistant/#", 1), ("face-kiosk/#", 1)])
        self.client.on_message = self._keep
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _keep(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, message.retain))

    def last(self, topic: str) -> bytes | None:
        with self.lock:
            return next((payload for t, payload, _ in reversed(self.messages) if t == topic), None)

    def state(self) -> dict | None:
        payload = self.last("face-kiosk/state")
        return json.loads(payload) if payload else None

    def wait(self, check, seconds: float = 8.0, what: str = ""):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if found := check():
                return found
            time.sleep(0.05)
        raise AssertionError(f"not seen within {seconds} s: {what}; last state {self.state()}")

    def everything(self) -> bytes:
        with self.lock:
            return b"\n".join(t.encode() + b" " + p for t, p, _ in self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def kiosk(tmp_path):
    """The store with two people, an application on a clock the test moves, and the status."""
    store = Store(tmp_path / "kiosk.db")
    people = {
        name: store.add_employee(
            name, image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
        )
        for name in NAMES
    }
    now = [NOON]
    rules = AttendanceSettings(timezone="UTC", day_start="04:00", cooldown_seconds=0)
    app = application(store, rules=rules, kiosk_id="front-door", clock=lambda: now[0])

    def punch(name: str):
        now[0] += dt.timedelta(minutes=1)
        return app.record_visit(people[name], 0.1).entry

    yield app, Status(), people, punch
    store.close()


@pytest.fixture
def running():
    bridges: list[MqttBridge] = []
    listeners: list[Listener] = []

    def bridge(settings: MqttSettings, status, app) -> MqttBridge:
        bridges.append(MqttBridge(settings, status, app, reconnect_max_seconds=1, tick_seconds=0.5).start())
        return bridges[-1]

    def listen(port: int, **kw) -> Listener:
        listeners.append(Listener(port, **kw))
        return listeners[-1]

    yield bridge, listen
    for one in bridges:
        one.stop(timeout=1)
    for one in listeners:
        one.close()


def configs_seen(listener: Listener, names=CONFIGS) -> dict | None:
    found = {name: listener.last(f"homeassistant/{name}/config") for name in names}
    return {name: json.loads(payload) for name, payload in found.items()} if all(found.values()) else None


def test_discovery_configs_are_retained_and_name_no_one(kiosk, broker, running):
    app, status, people, punch = kiosk
    bridge, listen = running
    port = broker().port
    bridge(MqttSettings(host="127.0.0.1", port=port), status, app)
    first = listen(port)
    first.wait(lambda: first.state() and first.last("face-kiosk/status"), what="the bridge publishing")

    late = listen(port)  # Home Assistant restarting: it finds everything retained
    configs = late.wait(lambda: configs_seen(late), what="the three discovery configs")
    assert late.wait(lambda: late.last("face-kiosk/status")) == b"online"
    assert {name: cfg["unique_id"] for name, cfg in configs.items()} == {
        "sensor/face-kiosk/camera": "face-kiosk_camera",
        "sensor/face-kiosk/people_in": "face-kiosk_people_in",
        "sensor/face-kiosk/last_punch": "face-kiosk_last_punch",
    }
    for cfg in configs.values():
        assert cfg["state_topic"] == "face-kiosk/state" and cfg["availability_topic"] == "face-kiosk/status"
        assert cfg["device"]["identifiers"] == ["face-kiosk"] and cfg["device"]["name"] == "Face kiosk front-door"
    assert configs["sensor/face-kiosk/last_punch"]["device_class"] == "timestamp"
    assert configs["sensor/face-kiosk/camera"]["options"] == ["starting", "ok", "unavailable", "ended", "disabled"]
    with late.lock:
        assert all(retained for topic, _, retained in late.messages), "everything a newcomer gets is retained"
    assert late.state() == {"camera": "starting", "camera_detail": "starting", "people_in": 0, "last_punch": None}
    assert not any(name.encode() in late.everything() for name in NAMES)


def test_punches_and_the_camera_update_the_state_without_names(kiosk, broker, running):
    app, status, people, punch = kiosk
    bridge, listen = running
    port = broker().port
    listener = listen(port)
    bridge(MqttSettings(host="127.0.0.1", port=port), status, app)
    listener.wait(lambda: listener.state(), what="the first state")

    ana = punch("Ana Lima")
    state = listener.wait(lambda: (s := listener.state())["people_in"] == 1 and s, what="Ana in")
    assert state["last_punch"] == ana.at.isoformat() == "2026-12-03T12:01:00+00:00"
    punch("Ben Ode")
    listener.wait(lambda: listener.state()["people_in"] == 2, what="both in")
    ana_out = punch("Ana Lima")  # her second punch of the day is OUT
    state = listener.wait(lambda: (s := listener.state())["people_in"] == 1 and s, what="Ana out again")
    assert state["last_punch"] == ana_out.at.isoformat()

    status.camera.state = "ok (USB camera 0)"  # the pump writes it without waking anyone: the bridge polls
    listener.wait(lambda: listener.state()["camera"] == "ok", what="the camera working")
    status.camera.state = "unavailable: no camera found"
    state = listener.wait(lambda: (s := listener.state())["camera"] == "unavailable" and s, what="the camera lost")
    assert state["camera_detail"] == "unavailable: no camera found"
    states = [json.loads(p) for t, p, _ in listener.messages if t == "face-kiosk/state"]
    assert len(states) == len({json.dumps(s, sort_keys=True) for s in states}), "a state is sent only when it changed"
    assert not any(name.encode() in listener.everything() for name in NAMES)


def test_per_person_presence_names_people_and_turning_it_off_removes_them(kiosk, broker, running):
    app, status, people, punch = kiosk
    bridge, listen = running
    port = broker().port
    listener = listen(port)
    first = bridge(MqttSettings(host="127.0.0.1", port=port, per_person=True), status, app)
    ana, ben = people["Ana Lima"], people["Ben Ode"]
    names = [f"binary_sensor/face-kiosk/person_{ana}", f"binary_sensor/face-kiosk/person_{ben}"]
    configs = listener.wait(lambda: configs_seen(listener, names), what="a presence sensor per person")
    assert configs[names[0]]["name"] == "Ana Lima" and configs[names[0]]["device_class"] == "presence"
    assert configs[names[0]]["state_topic"] == f"face-kiosk/person/{ana}"
    assert listener.wait(lambda: listener.last(f"face-kiosk/person/{ana}")) == b"OFF"
    punch("Ana Lima")
    listener.wait(lambda: listener.last(f"face-kiosk/person/{ana}") == b"ON", what="Ana present")
    assert listener.last(f"face-kiosk/person/{ben}") == b"OFF"
    assert b"Ana Lima" not in (listener.last("face-kiosk/state") or b"")  # the shared state never names anyone
    app.remove(ben)
    listener.wait(lambda: listener.last(f"homeassistant/{names[1]}/config") == b"", what="Ben's sensor removed")
    assert listener.last(f"face-kiosk/person/{ben}") == b""

    first.stop()
    bridge(MqttSettings(host="127.0.0.1", port=port), status, app)  # per_person turned off
    for name in names:
        listener.wait(lambda n=name: listener.last(f"homeassistant/{n}/config") == b"", what=f"{name} removed")
    listener.wait(lambda: listener.last(f"face-kiosk/person/{ana}") == b"", what="Ana's presence removed")
    late = listen(port)
    late.wait(lambda: configs_seen(late), what="the kiosk's own sensors")
    time.sleep(0.5)
    assert not any(name.encode() in late.everything() for name in NAMES), "no name is left on the broker"


@pytest.mark.skipif(PASSWD is None, reason="needs mosquitto_passwd (Debian's mosquitto package)")
def test_a_broker_with_a_password(kiosk, broker, running, tmp_path, caplog):
    app, status, people, punch = kiosk
    bridge, listen = running
    passwd = tmp_path / "broker.passwd"
    subprocess.run([PASSWD, "-c", "-b", str(passwd), "kiosk", "s3cret pass"], check=True, capture_output=True)
    port = broker(password_file=passwd).port
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret pass\n")
    settings = MqttSettings(host="127.0.0.1", port=port, username="kiosk", password_file=secret)
    check_settings(settings)
    listener = listen(port, username="kiosk", password="s3cret pass")
    bridge(settings, status, app)
    assert listener.wait(lambda: listener.last("face-kiosk/status")) == b"online"

    wrong = tmp_path / "wrong-password"
    wrong.write_text("guess\n")
    with caplog.at_level(logging.WARNING, logger="kiosk.mqtt"):
        refused = bridge(settings.model_copy(update={"password_file": wrong}), Status(), app)
        listener.wait(lambda: "refused the connection" in caplog.text, what="the refusal logged")
    assert not refused.connected.is_set()
    assert "guess" not in caplog.text and "s3cret" not in caplog.text

    missing = settings.model_copy(update={"password_file": tmp_path / "nowhere"})
    for call in (lambda: check_settings(missing), lambda: MqttBridge(missing, status, app)):
        with pytest.raises(ConfigError, match=r"mqtt.password_file: cannot read .*nowhere"):
            call()
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match=r"mqtt.password_file: .*empty is empty"):
        check_settings(settings.model_copy(update={"password_file": tmp_path / "empty"}))


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of our own and a certificate it signed for 127.0.0.1: (the CA's, the server's, its key)."""

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test CA")
    openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
        "-extfile", "san.ext", "-out", "server.pem",
    )  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make test certificates")
def test_tls_with_the_brokers_ca_and_refused_without_it(kiosk, broker, running, tmp_path):
    app, status, people, punch = kiosk
    bridge, listen = running
    ca, cert, key = certificates(tmp_path)
    tls_port = free_port()
    plain = broker(extra=(f"listener {tls_port} 127.0.0.1", f"cafile {ca}", f"certfile {cert}", f"keyfile {key}")).port
    listener = listen(plain)
    secure = MqttSettings(host="127.0.0.1", port=tls_port, tls=True, ca_file=ca)
    check_settings(secure)
    bridge(secure, status, app)
    listener.wait(lambda: listener.last("face-kiosk/status") == b"online", what="online over TLS")
    assert configs_seen(listener) is not None

    # The system's certificates do not know our CA: the handshake fails, and the bridge keeps trying quietly.
    untrusted = bridge(secure.model_copy(update={"ca_file": None, "topic": "other-door"}), status, app)
    time.sleep(2.0)
    assert not untrusted.connected.is_set() and listener.last("other-door/status") is None
    with pytest.raises(ConfigError, match=r"mqtt.ca_file: .*nowhere.pem not found"):
        check_settings(secure.model_copy(update={"ca_file": tmp_path / "nowhere.pem"}))


def test_check_config_names_an_unreadable_password_file(tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text(f"[mqtt]\nhost = '127.0.0.1'\nusername = 'kiosk'\npassword_file = '{tmp_path / 'missing'}'\n")
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, "-m", "kiosk", "-c", str(config), "check-config"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode != 0 and f"mqtt.password_file: cannot read {tmp_path / 'missing'}" in result.stderr


def test_the_last_will_says_offline_and_stop_says_it_too(kiosk, broker, running):
    app, status, people, punch = kiosk
    bridge, listen = running
    port = broker().port
    listener = listen(port)
    kiosk_bridge = bridge(MqttSettings(host="127.0.0.1", port=port), status, app)
    listener.wait(lambda: listener.last("face-kiosk/status") == b"online", what="online")
    kiosk_bridge._client.socket().shutdown(socket.SHUT_RDWR)  # the connection cut, as by a pulled cable
    listener.wait(lambda: listener.last("face-kiosk/status") == b"offline", what="the broker's last will")
    listener.wait(lambda: listener.last("face-kiosk/status") == b"online", what="online again after reconnecting")
    kiosk_bridge.stop()
    listener.wait(lambda: listener.last("face-kiosk/status") == b"offline", what="offline on shutdown")


def test_the_bridge_reconnects_after_the_broker_restarts_and_nothing_waits(kiosk, broker, running):
    app, status, people, punch = kiosk
    bridge, listen = running
    mosquitto = broker()
    kiosk_bridge = bridge(MqttSettings(host="127.0.0.1", port=mosquitto.port), status, app)
    listener = listen(mosquitto.port)
    listener.wait(lambda: listener.state(), what="the first state")

    mosquitto.kill()
    listener.wait(lambda: not kiosk_bridge.connected.is_set(), what="the bridge noticing")
    started = time.monotonic()
    punch("Ana Lima")  # the door goes on while the broker is away
    status.show(Screen("welcome", "Welcome"))
    status.camera.state = "ok (USB camera 0)"
    assert time.monotonic() - started < 0.5

    time.sleep(1.0)
    broker(port=mosquitto.port)  # a new broker on the same port, with nothing retained
    late = listen(mosquitto.port)
    late.wait(lambda: configs_seen(late), seconds=10, what="discovery sent again")
    state = late.wait(lambda: (s := late.state()) and s["people_in"] == 1 and s, what="the state sent again")
    assert state["camera"] == "ok" and state["last_punch"] == "2026-12-03T12:01:00+00:00"
    assert late.last("face-kiosk/status") == b"online"


def test_the_bridge_starts_without_a_broker_and_stops_at_once(kiosk, running):
    app, status, people, punch = kiosk
    bridge, listen = running
    started = time.monotonic()
    nobody = bridge(MqttSettings(host="127.0.0.1", port=free_port()), status, app)
    assert time.monotonic() - started < 0.5
    time.sleep(1.0)
    assert not nobody.connected.is_set()
    started = time.monotonic()
    nobody.stop()
    assert time.monotonic() - started < 3.0


def test_kiosk_run_publishes_and_says_offline_when_stopped(tmp_path, broker):
    port = broker().port
    listener = Listener(port)
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f"[kiosk]\ndata_dir = '{tmp_path / 'data'}'\n[camera]\nsource = 'none'\n[web]\nport = {free_port()}\n"
        f"[mqtt]\nhost = '127.0.0.1'\nport = {port}\n"
    )
    env = dict(os.environ, NOTIFY_SOCKET="")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "-c", str(config), "run"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        state = listener.wait(lambda: (s := listener.state()) and s["camera"] == "disabled" and s, seconds=60, what="run")
        assert state["people_in"] == 0 and listener.last("face-kiosk/status") == b"online"
        assert configs_seen(listener)["sensor/face-kiosk/camera"]["device"]["name"] == "Face kiosk kiosk-1"
        proc.terminate()  # SIGTERM, as systemd stops it
        _, err = proc.communicate(timeout=30)
        listener.wait(lambda: listener.last("face-kiosk/status") == b"offline", what="offline at shutdown: " + err[-2000:])
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert "MQTT: connected to 127.0.0.1" in err and "could not publish" not in err
