"""The kiosk at the door, end to end on replayed 640x480 frames made from
LFW photos: people walk up from afar, turn their heads, blur, and face the
camera; enrolment photos are never the photos they walk up with."""

import cv2
import numpy as np
import pytest

from kiosk.cameras import CameraError
from kiosk.composition import build_encoder
from kiosk.config import BUNDLED_MODEL, AttendanceSettings, DisplaySettings, RecognitionSettings
from kiosk.status import Status
from kiosk.store import Store
from tests.helpers import FakeClock as Clock
from tests.helpers import FrameFeed as Replay
from tests.helpers import enrol_lfw, lfw_image, make_loop
from tests.walkup import EMPTY, on_canvas, walk_up

FPS = 15.0
# Who walks up: an enrolment photo, a different photo to walk up with, and a photo of them turned away.
COLIN = ("Colin_Powell", 1, 71)
TONY = ("Tony_Blair", 2, 54)
HUGO = ("Hugo_Chavez", 1, 48)  # never enrolled


class Recording(Status):
    """A Status that remembers every screen it showed, with the time."""

    def __init__(self, clock, **kw):
        super().__init__(**kw)
        self.clock, self.shown = clock, []

    def show(self, screen, face=None):
        if not self.shown or self.shown[-1][1] != screen:
            self.shown.append((self.clock.seconds, screen))
        super().show(screen, face)

    def states(self):
        return [s.state for _, s in self.shown]


@pytest.fixture(scope="module")
def encoder():
    return build_encoder(BUNDLED_MODEL)


def photo(person, number):
    return cv2.imread(str(lfw_image(person, number)))


def enrol(store, encoder, person, number):
    return enrol_lfw(store, encoder, person, number)


def started_at(status) -> float:
    return next(t for t, s in status.shown if s.state == "welcome")


def walk_frames(person, enrolment_photo, turned_photo):
    walking = next(n for n in range(2, 12) if n not in (enrolment_photo, turned_photo))
    return walk_up(photo(person, walking), photo(person, turned_photo))


def run_loop(encoder, store, frames, clock, welcome_seconds=2.0, cooldown=3600.0):
    status = Recording(clock)
    loop = make_loop(
        store,
        encoder,
        open_camera=lambda: Replay(frames, clock),
        recognition=RecognitionSettings(),
        rules=AttendanceSettings(cooldown_seconds=cooldown, timezone="UTC"),
        display=DisplaySettings(welcome_seconds=welcome_seconds, preview=False),
        kiosk_id="door",
        status=status,
        clock=clock.wall,
        monotonic=clock.monotonic,
    )
    loop.run()
    assert loop.finished and loop.error is None
    return loop, status


@pytest.mark.lfw
def test_an_enrolled_person_walking_up_gets_guidance_then_one_readable_welcome(lfw, tmp_path, encoder):
    store = Store(tmp_path / "kiosk.db")
    colin = enrol(store, encoder, "Colin_Powell", COLIN[1])
    clock = Clock()
    loop, status = run_loop(encoder, store, walk_frames(*COLIN) + [EMPTY] * 60, clock)
    states = status.states()
    assert "guidance" in states and states.index("guidance") < states.index("welcome")
    guidance = [s.title for t, s in status.shown if s.state == "guidance" and t < started_at(status)]
    assert guidance[0].startswith("Face too small") and "Please face the camera directly." in guidance  # far away, then turned
    welcomes = [(t, s) for t, s in status.shown if s.state == "welcome"]
    assert len(welcomes) == 1
    started, screen = welcomes[0]
    assert (screen.title, screen.detail) == ("Welcome, Colin Powell", "IN at 08:59")
    ended = next(t for t, s in status.shown if t > started and s.state != "welcome")
    assert ended - started >= 2.0  # held for the configured welcome time, not flashed
    assert "unknown" not in states and "already" not in states and status.unknown_faces == 0
    assert [(e.employee_id, e.direction) for e in store.history(colin)] == [(colin, "in")]


@pytest.mark.lfw
def test_a_stranger_walking_up_is_not_recognised_once(lfw, tmp_path, encoder):
    store = Store(tmp_path / "kiosk.db")
    enrol(store, encoder, "Colin_Powell", COLIN[1])
    clock = Clock()
    loop, status = run_loop(encoder, store, walk_frames(*HUGO) + [EMPTY] * 60, clock)
    assert status.states().count("unknown") == 1 and status.unknown_faces == 1
    assert "welcome" not in status.states() and store.punch_log() == []


@pytest.mark.lfw
def test_two_people_in_turn_give_two_punches_and_a_second_visit_is_already_recorded(lfw, tmp_path, encoder):
    store = Store(tmp_path / "kiosk.db")
    colin, tony = enrol(store, encoder, "Colin_Powell", COLIN[1]), enrol(store, encoder, "Tony_Blair", TONY[1])
    clock = Clock()
    frames = walk_frames(*COLIN) + [EMPTY] * 40 + walk_frames(*TONY) + [EMPTY] * 40 + walk_frames(*COLIN) + [EMPTY] * 40
    loop, status = run_loop(encoder, store, frames, clock)
    assert [r.employee_id for r in store.punch_log()] == [colin, tony]
    welcomes = [s.title for _, s in status.shown if s.state == "welcome"]
    assert welcomes == ["Welcome, Colin Powell", "Welcome, Tony Blair"]
    [again] = [s for _, s in status.shown if s.state == "already"]
    assert again.title == "Hello Colin Powell" and again.detail == "already recorded at 08:59 (IN)"
    assert status.unknown_faces == 0


@pytest.mark.lfw
def test_admin_changes_reach_the_running_loop(lfw, tmp_path, encoder):
    store = Store(tmp_path / "kiosk.db")
    clock = Clock()
    status = Status()
    loop = make_loop(
        store,
        encoder,
        recognition=RecognitionSettings(evidence_frames=1, decide_frames=1, learn_from_visits=False),
        rules=AttendanceSettings(cooldown_seconds=0),
        display=DisplaySettings(preview=False),
        kiosk_id="k",
        status=status,
        clock=clock.wall,
        monotonic=clock.monotonic,
    )
    frame = on_canvas(photo("Colin_Powell", 2), 170)

    def visit():
        for _ in range(3):
            clock.tick()
            loop.process(frame)
        clock.seconds += 5  # they leave; the visit ends
        loop.process(EMPTY)

    visit()
    assert store.punch_log() == []
    admin = Store(tmp_path / "kiosk.db")  # a second connection, as the admin page has
    colin = enrol(admin, encoder, "Colin_Powell", 1)
    visit()
    assert [r.employee_id for r in store.punch_log()] == [colin]
    admin.remove_employee(colin)
    visit()
    assert len(store.punch_log()) == 1 and status.gallery_size == 0


def test_a_missing_camera_is_retried_and_reported(tmp_path, encoder):
    attempts = []

    def no_camera():
        attempts.append(1)
        if len(attempts) >= 3:
            loop.stop()
        raise CameraError("unplugged")

    loop = make_loop(
        Store(tmp_path / "k.db"),
        encoder,
        open_camera=no_camera,
        recognition=RecognitionSettings(),
        rules=AttendanceSettings(),
        display=DisplaySettings(),
        kiosk_id="t",
        status=Status(),
        retry_max_seconds=0.01,
    )
    loop.run()
    assert len(attempts) == 3
    assert (
        loop.status.state == "no-camera" and "unplugged" in loop.status.camera.state and loop.status.camera.down_since is not None
    )


@pytest.mark.lfw
def test_the_preview_is_made_only_while_someone_watches(lfw, tmp_path, encoder):
    store = Store(tmp_path / "kiosk.db")
    clock = Clock()
    status = Status()
    loop = make_loop(
        store,
        encoder,
        recognition=RecognitionSettings(),
        rules=AttendanceSettings(),
        display=DisplaySettings(preview_fps=5),
        kiosk_id="k",
        status=status,
        clock=clock.wall,
        monotonic=clock.monotonic,
    )
    frame = on_canvas(photo("Colin_Powell", 2), 150)
    clock.tick()
    loop.process(frame)
    assert status.preview.sequence == 0
    status.preview.viewers = 1
    for _ in range(15):  # one second at 15 fps
        clock.tick()
        loop.process(frame)
    assert 4 <= status.preview.sequence <= 6 and status.preview.jpeg.startswith(b"\xff\xd8")  # about 5 JPEG frames a second
    picture = cv2.imdecode(np.frombuffer(status.preview.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (240, 320, 3)
    face = status.face["box"]
    assert face[0] < 0.5 < face[2] and status.face["good"]
