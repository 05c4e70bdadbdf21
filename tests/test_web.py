import json

import pytest

from kiosk.config import Config, KioskSettings
from kiosk.daemon import Status
from kiosk.web import Services, create_app


@pytest.fixture
def status():
    return Status(model_version="v1", threshold=0.3, gallery_size=2)


@pytest.fixture
def app(tmp_path, status):
    config = Config(kiosk=KioskSettings(data_dir=tmp_path))
    return create_app(config, Services(status, str(tmp_path / "kiosk.db")), {"TESTING": True, "SSE_ONCE": True})


@pytest.fixture
def client(app):
    return app.test_client()


def test_kiosk_page_shows_the_current_message_escaped(client, status):
    status.show("welcome", "Welcome, <b>Alice</b> - in at 08:59")
    page = client.get("/")
    assert page.status_code == 200
    assert b"Welcome, &lt;b&gt;Alice&lt;/b&gt; - in at 08:59" in page.data
    assert b"state-welcome" in page.data
    assert page.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_events_stream_the_state(client, status):
    status.show("unknown", "Not recognised - please see your manager")
    response = client.get("/events")
    assert response.mimetype == "text/event-stream"
    event = json.loads(response.get_data(as_text=True).removeprefix("data: ").strip())
    assert event == {"state": "unknown", "message": "Not recognised - please see your manager"}


def test_status_and_health(client, status):
    status.last_recognitions.appendleft({"name": "Alice", "direction": "in", "at": "2026-11-23T08:59:00+00:00", "employee_id": 1})
    data = client.get("/status").get_json()
    assert data["model_version"] == "v1" and data["gallery_size"] == 2 and data["disk_free_mb"] > 0
    assert "last_recognitions" not in data and b"Alice" not in client.get("/status").data  # no names without login
    health = client.get("/healthz").get_json()
    assert health["ok"] is True and health["processing_frames"] is False


def test_static_assets_are_local(client):
    assert client.get("/static/screen.js").status_code == 200
    assert b"http" not in client.get("/").data.split(b"<body")[1]
