"""A photo of every punch: taken with the punch, shown to a logged-in admin
only, deleted after punch_photo_days and with a purge, none with 0."""

import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from kiosk.application import Application
from kiosk.config import AttendanceSettings, Config, KioskSettings
from kiosk.detection import Detection
from kiosk.status import Status
from kiosk.store import Store
from kiosk.templates import BestFace
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, login, services

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def best_face():
    frame = np.full((480, 640, 3), 40, np.uint8)
    frame[150:300, 250:400] = (60, 120, 200)  # the "face"
    face = Detection(np.array([250, 150, 400, 300], np.float32), 0.9, np.zeros((6, 2), np.float32))
    return BestFace(frame, face, True)


def application(store, days=30, clock=None):
    rules = AttendanceSettings(timezone="UTC", cooldown_seconds=0, punch_photo_days=days)
    return Application(store, None, rules, "door", clock=clock or (lambda: T0))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "kiosk.db")
    yield s
    s.close()


def enrol(store, name="Ann"):
    return store.add_employee(
        name, image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v1"
    )


def test_each_punch_keeps_a_small_photo_of_the_face(store):
    app = application(store)
    entry = app.record_visit(enrol(store), 0.05).entry
    assert app.keep_punch_photo(entry, best_face())
    picture = Image.open(io.BytesIO(app.punch_photo(entry.id)))
    assert picture.format == "JPEG" and picture.size == (128, 128)
    centre = np.asarray(picture.convert("RGB"))[64, 64]
    assert abs(int(centre[0]) - 200) < 30 and abs(int(centre[2]) - 60) < 30  # the face, in the middle (BGR -> RGB)
    assert app.punch_photos_of([entry.id, entry.id + 1]) == {entry.id}


def test_photos_are_deleted_after_their_days_by_the_kiosk_itself(store):
    now = [T0]
    app = application(store, days=30, clock=lambda: now[0])
    ann = enrol(store)
    first = app.record_visit(ann, 0.05).entry
    app.keep_punch_photo(first, best_face())
    now[0] = T0 + dt.timedelta(days=29)
    second = app.record_visit(ann, 0.05).entry
    app.keep_punch_photo(second, best_face())
    assert app.punch_photos_of([first.id, second.id]) == {first.id, second.id}
    now[0] = T0 + dt.timedelta(days=31)
    assert app.forget_old_punch_photos() == 1
    assert app.punch_photos_of([first.id, second.id]) == {second.id}
    assert len(store.punch_log()) == 2  # the punches themselves stay


def test_no_photo_is_taken_with_zero_days(store):
    app = application(store, days=0)
    entry = app.record_visit(enrol(store), 0.05).entry
    assert not app.keep_punch_photo(entry, best_face()) and app.punch_photo(entry.id) is None


def test_a_purge_deletes_the_photos_with_the_history(store):
    app = application(store)
    ann, bob = enrol(store), enrol(store, "Bob")
    for person in (ann, bob):
        app.keep_punch_photo(app.record_visit(person, 0.05).entry, best_face())
    app.remove(ann, purge=True)
    assert store.db.execute("SELECT COUNT(*) FROM punch_photos").fetchone()[0] == 1


def test_punch_photos_are_served_to_a_logged_in_admin_only(tmp_path):
    passwords.set_password(tmp_path, PASSWORD)
    found = services(tmp_path / "kiosk.db", Status())
    app = found.app
    entry = app.record_visit(enrol(app.store), 0.05).entry
    app.keep_punch_photo(entry, best_face())
    client = create_app(Config(kiosk=KioskSettings(data_dir=tmp_path)), found, {"TESTING": True}).test_client()
    path = f"/admin/punches/{entry.id}/photo.jpg"
    assert client.get(path).status_code == 302  # to the login page
    login(client)
    shown = client.get(path)
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg" and shown.headers["Cache-Control"] == "no-store"
    assert client.get(f"/admin/punches/{entry.id + 1}/photo.jpg").status_code == 404
    day = app.work_day(entry.at).isoformat()  # before the day starts at 04:00, a punch counts for the day before
    log = client.get(f"/admin/attendance?from={day}&to={day}").get_data(as_text=True)
    assert path in log
