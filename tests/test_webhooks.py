"""Webhooks: punches, corrections, spoofs and camera outages POSTed, signed, to real HTTP receivers that go
away and come back; the queue survives a restart; the pure rules (back-off, signing, bodies) on hand-made inputs."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from kiosk.config import AttendanceSettings, ConfigError
from kiosk.integration_settings import WebhookSettings
from kiosk.loop_observer import SPOOF, NoObserver, Observers
from kiosk.status import Status
from kiosk.store import Store
from kiosk.webhook_queue import WebhookQueue
from kiosk.webhook_rules import backoff_seconds, encode, event_body, request_headers, sign, signed_material, verify
from kiosk.webhooks import Timing, WebhookSender, check_secret, read_secret, start_webhooks
from tests.helpers import application

SECRET = b"s3cret-key-for-tests"
# Short waits, so a receiver's hour-long outage takes a fraction of a second here.
FAST = Timing(first_retry_seconds=0.01, poll_seconds=0.02, camera_down_seconds=0.2, jitter=lambda: 0.5)


class Receiver:
    """An HTTP receiver in a thread: records what it accepted (answering 200), answers 500 while ``failing``,
    and refuses connections while stopped."""

    def __init__(self):
        self.accepted: list[tuple[dict, bytes]] = []
        self.failing = False
        self.port = 0
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/secret-path"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failing:
                    self.send_response(500)
                else:
                    receiver.accepted.append((dict(self.headers), body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.accepted]


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def add_person(store, name):
    crop, embedding = np.zeros((8, 8, 3), np.uint8), np.ones(4, np.float32) / 2
    return store.add_employee(name, image=None, face=None, crop=crop, embedding=embedding, model_version="v")


def queued(store, kind):
    return store.db.execute("SELECT COUNT(*) FROM webhook_events WHERE kind = ?", (kind,)).fetchone()[0]


class Clock:
    """The application's wall clock: a minute on at every reading, so each visit is a punch."""

    def __init__(self):
        self.at = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)

    def __call__(self):
        self.at += dt.timedelta(minutes=1)
        return self.at


def kiosk(path, urls, include_names=False, status=None):
    """A kiosk's store, application and webhook sender (started), as ``kiosk run`` wires them."""
    store = Store(path)
    settings = WebhookSettings(urls=urls, secret_file=path.parent / "key", include_names=include_names, max_retry_seconds=1)
    queue = WebhookQueue(store)
    queue.configure(urls)
    sender = WebhookSender(queue, settings, SECRET, "front-door", status, FAST).start()
    rules = AttendanceSettings(cooldown_seconds=0, timezone="UTC")
    return store, application(store, rules=rules, kiosk_id="front-door", clock=Clock()), sender


def test_every_event_reaches_every_receiver_once_in_order_across_outages_and_a_restart(tmp_path):
    up, flaky = Receiver(), Receiver()
    urls = [up.url, flaky.url]
    status = Status()
    store, app, sender = kiosk(tmp_path / "kiosk.db", urls, status=status)
    ann, bob = add_person(store, "Ann Example"), add_person(store, "Bob Sample")
    first = app.record_visit(ann, 0.1).entry
    wait_until(lambda: len(up.accepted) == 1 and len(flaky.accepted) == 1)

    # One receiver goes away (connections refused), the other answers 500, while the kiosk goes on.
    up.stop()
    flaky.failing = True
    second = app.record_visit(bob, 0.2).entry
    void = app.correct(first.id, "void", author="Manager Person", note="wrong person")
    Observers(NoObserver(), sender).decision(SPOOF)  # as the loop tells its observers, the metrics among them
    status.camera.down_since = time.monotonic()  # the camera lost for longer than camera_down_seconds...
    wait_until(lambda: queued(store, "camera_down") == 1)
    status.camera.down_since = None  # ...and back
    wait_until(lambda: queued(store, "camera_up") == 1)
    time.sleep(0.2)
    assert len(up.accepted) == 1 and len(flaky.accepted) == 1  # nothing got through, retries went on

    # The kiosk restarts mid-outage: a new store and sender on the same database deliver what was queued.
    sender.stop()
    store.close()
    store, app, sender = kiosk(tmp_path / "kiosk.db", urls)
    third = app.record_visit(ann, 0.1).entry

    up.start()  # back on the same port
    flaky.failing = False
    wait_until(lambda: len(up.accepted) == 7 and len(flaky.accepted) == 7)
    time.sleep(0.2)  # and nothing more comes
    sender.stop()

    for receiver in (up, flaky):
        assert len(receiver.accepted) == 7
        bodies = receiver.bodies()
        assert [b["event"] for b in bodies] == ["punch", "punch", "correction", "spoof", "camera_down", "camera_up", "punch"]
        assert len({b["id"] for b in bodies}) == 7  # each once
        uuids = {row.id: row.uuid for row in store.punch_log()}  # an entry's event is named by the entry's UUID
        assert [b["id"] for b in bodies if "entry_id" in b] == [uuids[e.id] for e in (first, second, void, third)]
        for headers, raw in receiver.accepted:
            body = json.loads(raw)
            assert headers["X-Kiosk-Delivery"] == body["id"] and headers["X-Kiosk-Event"] == body["event"]
            assert verify(SECRET, headers, raw, time.time())
            assert body["kiosk_id"] == "front-door"
            assert b"Ann" not in raw and b"Bob" not in raw and b"Manager" not in raw and b"wrong person" not in raw
        punch = bodies[0]
        assert punch["employee_id"] == ann and punch["direction"] == "in" and punch["work_day"] == "2026-12-03"
        assert "name" not in punch and punch["entry_id"] == first.id
        correction = bodies[2]
        assert correction["correction"] == "void" and correction["corrects"] == {
            "entry_id": first.id,
            "entry_uuid": bodies[0]["id"],
        }
        assert "author" not in correction and "reason" not in correction
        assert bodies[4]["camera_state"] and bodies[5]["down_seconds"] >= 0
    # Both receivers have everything: the queue is empty again.
    assert store.db.execute("SELECT COUNT(*) FROM webhook_events").fetchone()[0] == 0
    store.close()
    up.stop()
    flaky.stop()


def test_names_author_and_reason_only_with_include_names(tmp_path):
    receiver = Receiver()
    store, app, sender = kiosk(tmp_path / "kiosk.db", [receiver.url], include_names=True)
    ann = add_person(store, "Ann Example")
    entry = app.record_visit(ann, 0.1).entry
    app.correct(entry.id, "redirect", direction="out", author="Manager Person", note="left, not arrived")
    wait_until(lambda: len(receiver.accepted) == 2)
    sender.stop()
    punch, correction = receiver.bodies()
    assert punch["name"] == "Ann Example"
    assert correction["name"] == "Ann Example" and correction["author"] == "Manager Person"
    assert correction["reason"] == "left, not arrived" and correction["direction"] == "out"
    store.close()
    receiver.stop()


def test_a_kiosk_without_webhooks_keeps_nothing(tmp_path):
    store = Store(tmp_path / "kiosk.db")
    app = application(store, rules=AttendanceSettings(cooldown_seconds=0, timezone="UTC"), clock=Clock())
    ann = add_person(store, "Ann")
    queue = WebhookQueue(store)
    queue.configure(["http://127.0.0.1:9/hook"])
    app.record_visit(ann, 0.1)
    assert store.db.execute("SELECT COUNT(*) FROM webhook_events").fetchone()[0] == 1
    # The URLs are taken out of the config: what was queued goes, and punches queue nothing from then on.
    from kiosk.config import Config

    sender = start_webhooks(Config(), store, Status())
    sender.decision(SPOOF)
    sender.stop()
    for _ in range(3):
        app.record_visit(ann, 0.1)
    assert [store.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("webhook_events", "webhook_targets")] == [0, 0]
    store.close()


def test_entries_pulled_from_a_fleet_are_not_sent_by_this_door(tmp_path):
    store = Store(tmp_path / "kiosk.db")
    ann = add_person(store, "Ann")
    WebhookQueue(store).configure(["http://127.0.0.1:9/hook"])
    store.db.execute("INSERT INTO meta VALUES ('pulling', '1')")
    store.db.execute(
        "INSERT INTO attendance (employee_id, at, day, direction, kiosk_id, uuid) "
        "VALUES (?, '2026-12-03T08:00:00+00:00', '2026-12-03', 'in', 'other-door', 'u-1')",
        (ann,),
    )
    assert store.db.execute("SELECT COUNT(*) FROM webhook_events").fetchone()[0] == 0
    store.close()


def test_an_event_older_than_keep_hours_is_given_up_with_a_warning(tmp_path, caplog):
    store = Store(tmp_path / "kiosk.db")
    url = "http://127.0.0.1:9/hook/with-a-secret"
    queue = WebhookQueue(store)
    queue.configure([url])
    queue.add("spoof", {"occurred_at": "2026-12-03T08:00:00+00:00"}, at=time.time() - 3 * 3600)
    settings = WebhookSettings(urls=[url], secret_file=tmp_path / "key", keep_hours=2)
    sender = WebhookSender(queue, settings, SECRET, "front-door", None, FAST)
    with caplog.at_level(logging.WARNING, logger="kiosk.webhooks"):
        sender.step()
    assert "gave up spoof event" in caplog.text and "#1 (http://127.0.0.1:9)" in caplog.text
    assert "with-a-secret" not in caplog.text  # a URL's path can be a secret: never logged
    assert queue.next_for(url) is None and store.db.execute("SELECT COUNT(*) FROM webhook_events").fetchone()[0] == 0
    store.close()


def test_a_camera_blink_is_not_an_outage_and_an_outage_is_told_once(tmp_path):
    store = Store(tmp_path / "kiosk.db")
    url = "http://127.0.0.1:9/hook"
    queue = WebhookQueue(store)
    queue.configure([url])
    status, now = Status(), [100.0]
    timing = Timing(camera_down_seconds=30, monotonic=lambda: now[0])
    sender = WebhookSender(queue, WebhookSettings(urls=[url], secret_file=tmp_path / "key"), SECRET, "k", status, timing)
    sender.targets[0].due = float("inf")  # queue only: nothing is sent in this test
    status.camera.down_since = 100.0
    now[0] = 110.0
    sender.step()
    status.camera.down_since = None  # back after 10 s: a blink
    sender.step()
    status.camera.down_since = 120.0
    for now[0] in (151.0, 160.0, 500.0):
        sender.step()
    status.camera.down_since = None
    sender.step()
    sender.step()
    kinds = [r[0] for r in store.db.execute("SELECT kind FROM webhook_events ORDER BY id")]
    assert kinds == ["camera_down", "camera_up"]
    store.close()


# ---- the pure rules --------------------------------------------------------------------------------------


def test_the_back_off_doubles_from_a_second_to_the_cap_less_up_to_a_quarter_of_jitter():
    assert [backoff_seconds(n, 300, 0.0) for n in range(1, 12)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff_seconds(3, 300, 0.5) == 3.5 and backoff_seconds(10_000, 300, 0.0) == 300
    assert backoff_seconds(12, 300, 0.999) == pytest.approx(225.075)
    assert backoff_seconds(2, 60, 0.0, first=0.01) == 0.02


def test_the_signature_covers_the_timestamp_and_the_raw_body():
    body = b'{"id":"e1","event":"spoof"}'
    expected = hmac.new(b"key", b"1796000000." + body, hashlib.sha256).hexdigest()
    assert signed_material(1796000000, body) == b"1796000000." + body
    assert sign(b"key", 1796000000, body) == "sha256=" + expected
    headers = {"X-Kiosk-Timestamp": "1796000000", "X-Kiosk-Signature": "sha256=" + expected}
    assert verify(b"key", headers, body, now=1796000100)
    assert not verify(b"key", headers, body + b" ", now=1796000100)  # the body changed
    assert not verify(b"other", headers, body, now=1796000100)  # another key
    assert not verify(b"key", headers, body, now=1796000000 + 301)  # replayed later
    assert not verify(b"key", {**headers, "X-Kiosk-Timestamp": "1796000200"}, body, now=1796000200)  # timestamp changed


def test_bodies_name_people_only_when_asked():
    entry = {
        "id": 7, "at": "2026-12-03T09:00:00+01:00", "day": "2026-12-03", "employee_id": 3, "employee_number": "E042",
        "direction": "in", "kind": "added", "kiosk_id": "admin", "author": "Boss", "note": "forgot", "target_id": None,
        "target_uuid": None, "name": "Ann",
    }  # fmt: skip
    body = event_body("u-7", "correction", "front", entry, None, include_names=False)
    assert body == {
        "id": "u-7", "event": "correction", "kiosk_id": "front", "occurred_at": "2026-12-03T09:00:00+01:00",
        "employee_id": 3, "employee_number": "E042", "direction": "in", "work_day": "2026-12-03", "entry_id": 7,
        "recorded_by": "admin", "correction": "added", "corrects": None,
    }  # fmt: skip
    named = event_body("u-7", "correction", "front", entry, None, include_names=True)
    assert (named["name"], named["author"], named["reason"]) == ("Ann", "Boss", "forgot")
    spoof = event_body("u-8", "spoof", "front", None, {"occurred_at": "2026-12-03T08:00:00+00:00"}, include_names=True)
    assert spoof == {"id": "u-8", "event": "spoof", "kiosk_id": "front", "occurred_at": "2026-12-03T08:00:00+00:00"}
    assert encode(spoof) == json.dumps(spoof, separators=(",", ":")).encode()


# ---- the signing key ---------------------------------------------------------------------------------------


def test_the_signing_key_is_one_line_of_its_file(tmp_path):
    key = tmp_path / "key"
    key.write_text("abc123\n")
    assert read_secret(key) == b"abc123"


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("\n  \n"), "is empty"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("one\ntwo\n"), "holds 2 lines"),
    ],
)
def test_a_missing_or_empty_key_file_is_named_with_the_fix(tmp_path, make, problem):
    key = tmp_path / "webhook.key"
    make(key)
    settings = WebhookSettings(urls=["https://chat.example/hook"], secret_file=key)
    with pytest.raises(ConfigError) as caught:
        check_secret(settings)
    message = str(caught.value)
    assert message.startswith(f"webhooks.secret_file: {key} {problem}")
    assert f"openssl rand -hex 32 > {key}" in message and "the receivers" in message


def test_the_readmes_verification_snippet_accepts_a_real_delivery_and_refuses_a_changed_one():
    from tests.helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Webhooks") :]
    snippet = section[section.index("```python\n") + len("```python\n") :]
    scope: dict = {}
    exec(snippet[: snippet.index("```")], scope)
    body = encode({"id": "e1", "event": "spoof"})
    headers = request_headers(SECRET, "spoof", "e1", int(time.time()), body)
    assert scope["verify"](SECRET, headers, body)
    assert not scope["verify"](SECRET, headers, body.replace(b"spoof", b"punch"))
    assert not scope["verify"](b"another key", headers, body)
