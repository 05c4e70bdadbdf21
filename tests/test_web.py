import json
import time

import pytest

from kiosk.config import CameraSettings, Config, DisplaySettings, KioskSettings, WebSettings
from kiosk.status import Screen, Status
from kiosk.web import create_app, passwords
from tests.helpers import services

REMOTE = {"REMOTE_ADDR": "192.168.1.50"}  # someone on the office network
WELCOME = Screen("welcome", "Welcome, <b>Alice</b>", "IN at 08:59", public_title="Welcome")


@pytest.fixture
def status():
    return Status(model_version="v1", threshold=0.3, gallery_size=2)


def make_app(tmp_path, status, **web):
    config = Config(
        kiosk=KioskSettings(data_dir=tmp_path), web=WebSettings(**web), camera=CameraSettings(unhealthy_after_seconds=30)
    )
    return create_app(config, services(tmp_path / "kiosk.db", status), {"TESTING": True, "SSE_ONCE": True})


@pytest.fixture
def client(tmp_path, status):
    return make_app(tmp_path, status).test_client()


def test_the_kiosk_display_sees_the_name_escaped(client, status):
    status.show(WELCOME)
    page = client.get("/")
    assert page.status_code == 200
    assert b"Welcome, &lt;b&gt;Alice&lt;/b&gt;" in page.data and b"IN at 08:59" in page.data
    assert b"state-welcome" in page.data and b"preview.mjpg" in page.data
    assert page.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_network_sees_the_state_but_no_name_and_no_picture(client, status):
    status.show(WELCOME)
    page = client.get("/", environ_base=REMOTE)
    assert b"Alice" not in page.data and b"Welcome" in page.data and b"preview.mjpg" not in page.data
    event = json.loads(client.get("/events", environ_base=REMOTE).get_data(as_text=True).removeprefix("data: ").strip())
    assert event == {"state": "welcome", "title": "Welcome", "detail": "IN at 08:59"}
    assert b"Alice" not in client.get("/status", environ_base=REMOTE).data
    assert client.get("/preview.mjpg", environ_base=REMOTE).status_code == 403


def test_a_proxied_request_is_not_the_kiosk_display(client, status):
    status.show(WELCOME)
    proxied = client.get("/status", headers={"X-Forwarded-For": "203.0.113.9"})
    assert b"Alice" not in proxied.data
    assert client.get("/preview.mjpg", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403


def test_events_stream_the_screen_and_the_face_to_the_display(client, status):
    status.show(Screen("unknown", "Not recognised", "please see your manager"), {"box": [0.1, 0.2, 0.4, 0.6], "good": True})
    response = client.get("/events")
    assert response.mimetype == "text/event-stream"
    event = json.loads(response.get_data(as_text=True).removeprefix("data: ").strip())
    assert event == {
        "state": "unknown",
        "title": "Not recognised",
        "detail": "please see your manager",
        "face": {"box": [0.1, 0.2, 0.4, 0.6], "good": True},
    }


def test_the_preview_streams_jpeg_frames_to_the_display(client, status):
    status.preview.publish(b"\xff\xd8fake-jpeg\xff\xd9")
    response = client.get("/preview.mjpg")
    assert response.status_code == 200 and response.mimetype == "multipart/x-mixed-replace"
    assert b"Content-Type: image/jpeg" in response.data and b"fake-jpeg" in response.data
    assert status.preview.viewers == 0  # the stream counted itself in and out


def test_open_streams_are_capped(tmp_path, status):
    app = make_app(tmp_path, status, max_event_streams=2, reserved_streams=0)
    slots = app.extensions["stream_slots"]
    first = slots.acquire("192.168.1.7")
    assert first and slots.acquire("192.168.1.8")
    response = app.test_client().get("/events")
    assert response.status_code == 503 and b"Too many open connections" in response.data
    first()
    assert app.test_client().get("/events").status_code == 200


def test_status_and_health(client, status):
    status.last_recognitions.appendleft({"name": "Alice", "direction": "in", "at": "2026-11-23T08:59:00+00:00", "employee_id": 1})
    data = client.get("/status").get_json()
    assert data["model_version"] == "v1" and data["gallery_size"] == 2 and data["disk_free_mb"] > 0
    assert data["last_recognitions"][0]["name"] == "Alice"  # the kiosk's own display may know
    remote = client.get("/status", environ_base=REMOTE).get_json()
    assert "last_recognitions" not in remote
    health = client.get("/healthz").get_json()
    assert health["ok"] is True and health["processing_frames"] is False


def test_health_turns_503_when_the_camera_is_down_too_long(client, status):
    status.camera.state = "unavailable: unplugged"
    status.camera.down_since = time.monotonic() - 10
    assert client.get("/healthz").status_code == 200
    status.camera.down_since = time.monotonic() - 31
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["camera"] == "unavailable: unplugged"


def test_the_clock_follows_the_time_format(tmp_path, status):
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), display=DisplaySettings(time_format="12h"))
    page = create_app(config, services(tmp_path / "k.db", status), {"TESTING": True}).test_client().get("/")
    assert b'data-time-format="12h"' in page.data
    assert b'data-time-format="24h"' in make_app(tmp_path, status).test_client().get("/").data


def test_static_assets_are_local(client):
    assert client.get("/static/screen.js").status_code == 200
    assert b"http" not in client.get("/").data.split(b"<body")[1]


def test_an_empty_secret_key_file_is_replaced_not_fatal(tmp_path, status):
    (tmp_path / "secret_key").write_bytes(b"")
    app = make_app(tmp_path, status)
    assert len(app.config["SECRET_KEY"]) == 32 and len((tmp_path / "secret_key").read_bytes()) == 32
    assert app.test_client().get("/").status_code == 200
    assert passwords.secret_key(tmp_path) == app.config["SECRET_KEY"]  # kept from then on
