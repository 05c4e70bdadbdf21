"""The real recognition loop, end to end, on LFW photos replayed as a camera."""

import datetime as dt

import cv2
import numpy as np
import pytest

from kiosk.cameras import CameraError
from kiosk.cameras.replay import ReplayCamera
from kiosk.config import BUNDLED_MODEL, RecognitionSettings
from kiosk.daemon import KioskLoop, Status
from kiosk.cli import build_encoder
from kiosk.recognition import Recognizer
from kiosk.store import Store
from tests.conftest import lfw_image

STAFF = ["Colin_Powell", "Tony_Blair", "Serena_Williams"]
STRANGERS = ["Gerhard_Schroeder", "Jennifer_Capriati"]


def kiosk_frame(photo, x, y, scale):
    """The photo as seen by a 640x480 kiosk camera: placed and scaled differently."""
    image = cv2.imread(str(photo))
    image = cv2.resize(image, None, fx=scale, fy=scale)
    frame = np.full((480, 640, 3), 90, np.uint8)
    h, w = image.shape[:2]
    frame[y : y + h, x : x + w] = image
    return frame


def frontal(encoder, person):
    """The first photo of ``person`` that passes the quality gate (LFW has many turned heads)."""
    for number in range(1, 20):
        path = lfw_image(person, number)
        quality, crop, embedding = encoder.encode(cv2.imread(str(path)))
        if quality.ok:
            return path, crop, embedding
    raise AssertionError(f"no frontal photo of {person}")


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc)

    def __call__(self):
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture
def encoder(detector):
    return build_encoder(BUNDLED_MODEL)


def make_loop(tmp_path, encoder, frames_dir, store, **settings):
    contract = encoder.embedder.contract
    return KioskLoop(
        open_camera=lambda: ReplayCamera(frames_dir), recognizer=Recognizer(encoder, RecognitionSettings()),
        store=store, settings=RecognitionSettings(**settings), kiosk_id="test", model_version=contract.version,
        status=Status(), clock=Clock(), hold_seconds=0,
    )


def test_staff_are_logged_once_per_cooldown_and_strangers_never(lfw, tmp_path, encoder):
    store = Store(tmp_path / "kiosk.db")
    ids = {}
    photos = {}
    for person in STAFF + STRANGERS:
        photos[person], crop, embedding = frontal(encoder, person)
        if person in STRANGERS:
            continue
        ids[person] = store.add_employee(person.replace("_", " "), image=None, face=None, crop=crop, embedding=embedding,
                                         model_version=encoder.embedder.contract.version)
    frames = tmp_path / "frames"
    frames.mkdir()
    n = 0
    # Each staff member stands in front of the kiosk for 6 frames, twice (the
    # second visit within the cooldown); strangers for 6 frames each.
    sequence = [(p, photos[p]) for p in STAFF + STRANGERS + STAFF[:1]]
    for person, photo in sequence:
        for k in range(6):
            cv2.imwrite(str(frames / f"{n:04d}.png"), kiosk_frame(photo, 100 + 20 * k, 60 + 5 * k, 1.2 + 0.05 * k))
            n += 1
    loop = make_loop(tmp_path, encoder, frames, store, cooldown_seconds=3600)
    loop.run()
    rows = store.attendance()
    assert [r["employee_id"] for r in rows] == [ids[p] for p in STAFF]
    assert all(r["direction"] == "in" and r["kiosk_id"] == "test" for r in rows)
    assert loop.status.unknown_faces >= len(STRANGERS)
    assert loop.status.frames == n


def test_admin_changes_reach_the_running_loop(lfw, tmp_path, encoder):
    store = Store(tmp_path / "kiosk.db")
    frames = tmp_path / "frames"
    frames.mkdir()
    photo, crop, embedding = frontal(encoder, "Colin_Powell")
    cv2.imwrite(str(frames / "a.png"), kiosk_frame(photo, 150, 80, 1.3))
    loop = make_loop(tmp_path, encoder, frames, store, cooldown_seconds=0, frames_needed=1, frames_window=1)
    frame = cv2.imread(str(frames / "a.png"))
    loop.process(frame)
    assert store.attendance() == []
    # A second connection, as the admin page has.
    admin = Store(tmp_path / "kiosk.db")
    colin = admin.add_employee("Colin Powell", image=None, face=None, crop=crop, embedding=embedding,
                               model_version=encoder.embedder.contract.version)
    loop.process(frame)
    assert [r["employee_id"] for r in store.attendance()] == [colin]
    admin.remove_employee(colin)
    loop.process(frame)
    assert len(store.attendance()) == 1 and loop.status.gallery_size == 0


def test_a_missing_camera_is_retried_and_reported(tmp_path, encoder):
    attempts = []

    def no_camera():
        attempts.append(1)
        if len(attempts) >= 3:
            loop.stop()
        raise CameraError("unplugged")

    contract = encoder.embedder.contract
    loop = KioskLoop(open_camera=no_camera, recognizer=Recognizer(encoder, RecognitionSettings()),
                     store=Store(tmp_path / "k.db"), settings=RecognitionSettings(), kiosk_id="t",
                     model_version=contract.version, status=Status(), retry_max_seconds=0.01)
    loop.run()
    assert len(attempts) == 3
    assert loop.status.state == "no-camera" and "unplugged" in loop.status.camera


class CountingNotifier:
    def __init__(self):
        self.watchdogs = 0

    def watchdog(self):
        self.watchdogs += 1


def test_watchdog_is_fed_once_per_processed_frame(tmp_path, encoder):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((480, 640, 3), 60 * i, np.uint8))
    notifier = CountingNotifier()
    loop = make_loop(tmp_path, encoder, frames, Store(tmp_path / "k.db"))
    loop.notifier = notifier
    loop.run()
    assert loop.status.frames == 4 and notifier.watchdogs == 4
