"""The kiosk's state for Home Assistant over MQTT: discovery configs (retained)
under ``[mqtt] discovery_prefix``, one JSON state under ``<topic>/state`` and
availability under ``<topic>/status`` (``offline`` also as the broker's last
will). With ``per_person``, one presence sensor per person, named: names then
reach the broker, so it is off by default.

The bridge runs in a thread of its own: it reads ``Status``, ``CameraState`` and
the store once a second, or sooner when the screen changes, and publishes what
changed. paho's own thread connects and reconnects; nothing here ever waits on
the broker while the loop or the pages wait on it. paho is imported only here,
and only when a bridge starts.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from pathlib import Path

from kiosk.attendance import IN
from kiosk.config import ConfigError

log = logging.getLogger("kiosk.mqtt")

CAMERA_STATES = ("starting", "ok", "unavailable", "ended", "disabled")
TICK_SECONDS = 1.0


def read_password(settings) -> str | None:
    """The password in ``password_file`` (its first line), or None without one; a ConfigError names the file."""
    if settings.password_file is None:
        return None
    path = Path(settings.password_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"mqtt.password_file: cannot read {path} ({why})") from None
    if not lines or not lines[0]:
        raise ConfigError(f"mqtt.password_file: {path} is empty (the broker password, on its first line)")
    return lines[0]


def check_settings(settings) -> None:
    """What ``serve`` reads before it connects: the password file and the CA file (``check-config`` runs it too)."""
    if not settings.enabled:
        return
    read_password(settings)
    if settings.tls and settings.ca_file is not None and not Path(settings.ca_file).is_file():
        raise ConfigError(f"mqtt.ca_file: {settings.ca_file} not found")


def camera_word(state: str) -> str:
    """``CameraState.state`` as one of :data:`CAMERA_STATES` (the full text goes in the attributes)."""
    return next((word for word in CAMERA_STATES if state.startswith(word)), "unavailable")


def node_id(topic: str) -> str:
    # Discovery's node id allows no '/'; the topic is unique per kiosk, so this is too.
    return topic.replace("/", "_")


class Messages:
    """Every retained message the kiosk wants on the broker now, topic to payload, in the order to send them:
    the discovery configs first, then the states, then ``online`` (Home Assistant reads availability last)."""

    def __init__(self, settings, kiosk_id: str):
        self.settings = settings
        self.node = node_id(settings.topic)
        self.device = {
            "identifiers": [self.node],
            "name": f"Face kiosk {kiosk_id}",
            "manufacturer": "face-kiosk",
            "model": "Face-recognition attendance kiosk",
        }

    @property
    def status_topic(self) -> str:
        return f"{self.settings.topic}/status"

    @property
    def state_topic(self) -> str:
        return f"{self.settings.topic}/state"

    def presence_topic(self, employee_id: int | str) -> str:
        return f"{self.settings.topic}/person/{employee_id}"

    def config_topic(self, component: str, object_id: str) -> str:
        return f"{self.settings.discovery_prefix}/{component}/{self.node}/{object_id}/config"

    def ours(self) -> list[str]:
        """Subscriptions that find every retained message an earlier run left (a removed person, per_person turned off)."""
        return [self.config_topic("+", "+"), self.presence_topic("+")]

    def _config(self, object_id: str, name: str, **extra) -> bytes:
        body = {
            "name": name,
            "unique_id": f"{self.node}_{object_id}",
            "state_topic": self.state_topic,
            "availability_topic": self.status_topic,
            "device": self.device,
            "origin": {"name": "face-kiosk"},
            **extra,
        }
        return json.dumps(body, sort_keys=True).encode()

    def wanted(self, state: dict, inside: list[int], people: dict[int, str]) -> dict[str, bytes]:
        """``state`` and ``inside`` (ids) from :meth:`MqttBridge.read`; ``people``: id to name, empty unless per_person."""
        found = {
            self.config_topic("sensor", "camera"): self._config(
                "camera",
                "Camera",
                device_class="enum",
                options=list(CAMERA_STATES),
                value_template="{{ value_json.camera }}",
                json_attributes_topic=self.state_topic,
                json_attributes_template='{{ {"detail": value_json.camera_detail} | tojson }}',
                icon="mdi:cctv",
            ),
            self.config_topic("sensor", "people_in"): self._config(
                "people_in",
                "People in",
                state_class="measurement",
                unit_of_measurement="people",
                value_template="{{ value_json.people_in }}",
                icon="mdi:account-group",
            ),
            # A null last punch renders as "None", which Home Assistant shows as unknown.
            self.config_topic("sensor", "last_punch"): self._config(
                "last_punch", "Last punch", device_class="timestamp", value_template="{{ value_json.last_punch }}"
            ),
        }
        for employee_id, name in sorted(people.items()):
            topic = self.presence_topic(employee_id)
            found[self.config_topic("binary_sensor", f"person_{employee_id}")] = self._config(
                f"person_{employee_id}", name, device_class="presence", state_topic=topic
            )
        found[self.state_topic] = json.dumps(state, sort_keys=True).encode()
        for employee_id in sorted(people):
            found[self.presence_topic(employee_id)] = b"ON" if employee_id in inside else b"OFF"
        found[self.status_topic] = b"online"
        return found


class MqttBridge:
    """Publishes the kiosk's state to an MQTT broker for Home Assistant, from a thread of its own (see the module)."""

    def __init__(self, settings, status, app, *, reconnect_max_seconds: float = 30.0, tick_seconds: float = TICK_SECONDS):
        self.settings, self.status, self.app = settings, status, app
        self.password = read_password(settings)  # before any thread starts: a wrong file stops serve with its name
        self.messages = Messages(settings, app.kiosk_id)
        self.reconnect_max_seconds = reconnect_max_seconds
        self.tick_seconds = tick_seconds
        self.connected = threading.Event()
        self._fresh = threading.Event()  # a new connection: everything is sent again
        self._stale: queue.SimpleQueue[str] = queue.SimpleQueue()  # retained topics found on the broker
        self._stopping = threading.Event()
        self._published: dict[str, bytes] = {}
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._client = None

    # -- the client (paho's thread) -----------------------------------------------------------------------
    def _make_client(self):
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"face-kiosk-{self.messages.node}")
        if self.settings.username:
            client.username_pw_set(self.settings.username, self.password)
        if self.settings.tls:
            ca = self.settings.ca_file
            client.tls_set(ca_certs=str(ca) if ca is not None else None)  # None: the system's certificates
        client.will_set(self.messages.status_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=max(1, round(self.reconnect_max_seconds)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.settings.host, self.settings.port, reason_code)
            return
        log.info("MQTT: connected to %s:%d", self.settings.host, self.settings.port)
        for topic in self.messages.ours():
            client.subscribe(topic, qos=1)
        self._fresh.set()  # before connected: the first tick on this connection sends everything
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and not self._stopping.is_set():
            log.warning("MQTT: lost the broker (%s); reconnecting in the background", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        # Only what the broker kept from before (retained) can be stale; our own echoes arrive without the flag.
        if message.retain and message.payload:
            self._stale.put(message.topic)

    # -- start and stop -----------------------------------------------------------------------------------
    def start(self) -> MqttBridge:
        self._client = self._make_client()
        # connect_async returns at once: paho's thread resolves, connects and keeps reconnecting.
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_seconds)
        self._client.loop_start()
        self._thread.start()
        log.info("MQTT: publishing to %s:%d under %s", self.settings.host, self.settings.port, self.settings.topic)
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Say ``offline`` (a clean disconnect sends no last will) and disconnect."""
        self._stopping.set()
        self._thread.join(timeout=self.tick_seconds + 2)
        client = self._client
        if client is None:
            return
        if self.connected.is_set():
            info = client.publish(self.messages.status_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):  # the connection went meanwhile
                pass
        client.disconnect()
        client.loop_stop()

    # -- the bridge's thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        failing = False
        try:
            while not self._stopping.is_set():
                try:
                    self.tick()
                    if failing:
                        log.info("MQTT: publishing the kiosk's state again")
                    failing = False
                except Exception:  # a failed read must not end the bridge: the next tick tries again
                    if not failing:  # once, not every second
                        log.exception("MQTT: could not publish the kiosk's state")
                    failing = True
                # Woken by a new screen (a punch shows a welcome), else once a tick; not by the face box,
                # which changes with nearly every frame someone stands there.
                shown = self.status.screen
                with self.status.changed:
                    self.status.changed.wait_for(
                        lambda shown=shown: self._stopping.is_set() or self.status.screen != shown, self.tick_seconds
                    )
        finally:
            self.app.store.release()  # this thread's database connection

    def read(self) -> tuple[dict, list[int]]:
        """The state as published (no names, no ids), and who is in (ids, for the per-person sensors only)."""
        camera = self.status.camera.state
        today = self.app.today()
        records = self.app.timesheet(today, today)
        inside = sorted({r.employee_id for r in records if r.punches and r.punches[-1].direction == IN})
        punches = [c.at for r in records for c in r.punches]
        state = {
            "camera": camera_word(camera),
            "camera_detail": camera,
            "people_in": len(inside),
            "last_punch": max(punches).isoformat() if punches else None,
        }
        return state, inside

    def tick(self) -> None:
        """Publish whatever changed since the last tick (everything after a new connection)."""
        if not self.connected.is_set():
            return
        if self._fresh.is_set():
            self._fresh.clear()
            self._published = {}
        state, inside = self.read()
        people = {e.id: e.name for e in self.app.employees()} if self.settings.per_person else {}
        wanted = self.messages.wanted(state, inside, people)
        gone = [topic for topic in self._published if topic not in wanted]
        while True:
            try:
                topic = self._stale.get_nowait()
            except queue.Empty:
                break
            if topic not in wanted and topic not in gone:
                gone.append(topic)
        for topic in gone:  # an empty retained message removes the entity (and its name) from the broker
            if self._send(topic, b""):
                self._published.pop(topic, None)
        for topic, payload in wanted.items():
            if self._published.get(topic) != payload and self._send(topic, payload):
                self._published[topic] = payload

    def _send(self, topic: str, payload: bytes) -> bool:
        info = self._client.publish(topic, payload, qos=1, retain=True)
        return info.rc == 0  # not connected: sent again after the next connection


class Off:
    """What ``serve`` holds while ``[mqtt] host`` is empty: stopping it does nothing."""

    def stop(self) -> None:
        pass


def start_bridge(settings, status, app) -> MqttBridge | Off:
    """The bridge, started, when ``[mqtt] host`` is set."""
    return MqttBridge(settings, status, app).start() if settings.enabled else Off()
