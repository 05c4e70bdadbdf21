"""Liveness at the door: the pure rules that decide a held welcome (hand-made
inputs), the loop holding a welcome until the check has decided, refusing a
photo or screen without a punch and with a neutral screen, the challenge on the
screen, and, with the real models, a printed photo and a phone refused where
the same person's head is welcomed."""

import cv2
import numpy as np
import pytest

from kiosk.config import AttendanceSettings, DisplaySettings, RecognitionSettings
from kiosk.liveness import (
    BLINK,
    FLAT,
    LEFT_EYE,
    LIVE,
    RIGHT_EYE,
    SPOOF,
    THREE_D,
    TIMED_OUT,
    TURN_LEFT,
    TURN_RIGHT,
    UNDECIDED,
    WAIT,
    Challenge,
    DoorSettings,
    challenge_done,
    challenged_verdict,
    passive_verdict,
    yaw_of,
)
from kiosk.loop_observer import SPOOF as SPOOF_DECISION
from kiosk.status import Status
from kiosk.store import Store
from tests.helpers import FakeClock, FrameFeed, enrol_lfw, lfw_image, make_loop
from tests.walkup import EMPTY, walk_up

DOOR = DoorSettings(mode="passive", spoof_threshold=0.5, wait_seconds=0.5, challenge_seconds=5.0, turn=0.2)


# ---- the rules, on hand-made inputs ----------------------------------------------------------------


def face_points(nose_x: float) -> np.ndarray:
    """468 points with the eyes' corners 40 px apart about x = 120 and the nose tip at ``nose_x``."""
    points = np.zeros((468, 3))
    for corner, x in zip((RIGHT_EYE[0], RIGHT_EYE[3], LEFT_EYE[0], LEFT_EYE[3]), (90, 110, 130, 150), strict=True):
        points[corner, :2] = (x, 100)
    points[1, :2] = (nose_x, 130)
    return points


def test_yaw_is_positive_when_the_nose_points_to_the_persons_left():
    assert yaw_of(face_points(120)) == pytest.approx(0.0)
    assert yaw_of(face_points(130)) == pytest.approx(0.25)  # towards the image's right: their left
    assert yaw_of(face_points(110)) == pytest.approx(-0.25)


def test_a_challenge_is_done_only_by_what_it_asked():
    left = Challenge(TURN_LEFT, 0.0, yaw=0.0, blinks=1)
    right = Challenge(TURN_RIGHT, 0.0, yaw=0.0, blinks=1)
    blink = Challenge(BLINK, 0.0, yaw=None, blinks=1)
    assert challenge_done(left, 0.25, 1, DOOR) and not challenge_done(left, 0.1, 1, DOOR)
    assert not challenge_done(left, -0.3, 1, DOOR)  # the other way
    assert challenge_done(right, -0.3, 1, DOOR) and not challenge_done(right, 0.3, 1, DOOR)
    assert not challenge_done(left, None, 2, DOOR)  # no face: nothing done, whatever the eyes did
    assert challenge_done(blink, None, 2, DOOR) and not challenge_done(blink, 0.5, 1, DOOR)


@pytest.mark.parametrize(
    "geometry,real,waited,expected",
    [
        (FLAT, 0.99, 0.0, SPOOF),  # a flat picture is refused whatever the detector thinks
        (THREE_D, 0.01, 0.0, LIVE),  # a head that turned is welcomed at once
        (UNDECIDED, 0.99, 0.2, WAIT),  # too soon for the detector alone
        (UNDECIDED, 0.99, 0.5, LIVE),
        (UNDECIDED, 0.49, 0.5, SPOOF),
        (UNDECIDED, None, 3.0, WAIT),  # the detector has seen no usable face yet
    ],
)
def test_passive_verdict(geometry, real, waited, expected):
    assert passive_verdict(geometry, real, waited, DOOR) == expected


def test_challenge_verdict_waits_then_times_out_and_refuses_a_flat_picture_at_once():
    asked = Challenge(TURN_LEFT, 10.0, yaw=0.0, blinks=0)
    assert challenged_verdict(UNDECIDED, 0.9, asked, 0.05, 0, 12.0, DOOR) == WAIT
    assert challenged_verdict(UNDECIDED, 0.9, asked, 0.05, 0, 15.5, DOOR) == TIMED_OUT
    assert challenged_verdict(FLAT, 0.9, asked, 0.5, 0, 11.0, DOOR) == SPOOF
    assert challenged_verdict(THREE_D, 0.1, asked, 0.3, 0, 11.0, DOOR) == LIVE  # turned, and solid
    assert challenged_verdict(UNDECIDED, 0.9, asked, 0.3, 0, 11.0, DOOR) == LIVE  # turned; the detector agrees
    assert challenged_verdict(UNDECIDED, 0.1, asked, 0.3, 0, 11.0, DOOR) == SPOOF  # turned a picture? the detector says no


# ---- the loop holds a welcome for the check (scripted check, real recogniser) ------------------------


class ScriptedCheck:
    """A liveness check that answers ``verdicts`` in turn (the last one thereafter) and
    asks ``challenge`` while it waits, for the loop's handling alone."""

    def __init__(self, verdicts, challenge_kind=None):
        self.verdicts, self.challenge_kind = list(verdicts), challenge_kind
        self.door = DOOR
        self.resets = self.observed = 0
        self.challenge = None

    def reset(self):
        self.resets += 1

    def observe(self, frame, face, usable, now):
        self.observed += 1
        return 0.001

    def verdict(self, waited, now):
        if self.challenge_kind and self.challenge is None:
            self.challenge = Challenge(self.challenge_kind, now, 0.0, 0)
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]


class Decisions:
    def __init__(self):
        self.kinds = []

    def frame(self, seconds_by_stage):
        pass

    def decision(self, kind):
        self.kinds.append(kind)


class Recording(Status):
    def __init__(self):
        super().__init__()
        self.shown = []

    def show(self, screen, face=None):
        if not self.shown or self.shown[-1] != screen:
            self.shown.append(screen)
        super().show(screen, face)


def photo(person, number):
    return cv2.imread(str(lfw_image(person, number)))


@pytest.fixture(scope="module")
def encoder():
    from kiosk.composition import build_encoder
    from kiosk.config import BUNDLED_MODEL

    return build_encoder(BUNDLED_MODEL)


def door_with(check, encoder, tmp_path, frames):
    """Colin Powell enrolled; a loop whose liveness check is ``check``; his walk-up on ``frames``."""
    store = Store(tmp_path / "k.db")
    enrol_lfw(store, encoder, "Colin_Powell", 1)
    clock, status, decisions = FakeClock(), Recording(), Decisions()
    loop = make_loop(
        store,
        encoder,
        open_camera=lambda: FrameFeed(frames, clock),
        recognition=RecognitionSettings(learn_from_visits=False),
        rules=AttendanceSettings(timezone="UTC", punch_photo_days=0),
        display=DisplaySettings(welcome_seconds=2.0, preview=False),
        status=status,
        clock=clock.wall,
        monotonic=clock.monotonic,
        observer=decisions,
    )
    loop.decision.liveness = check
    loop.run()
    assert loop.error is None
    return store, status, decisions


def colin_walks_up():
    return walk_up(photo("Colin_Powell", 2), photo("Colin_Powell", 71)) + [EMPTY] * 30


@pytest.mark.lfw
def test_a_photo_or_screen_is_refused_with_a_neutral_message_and_no_punch(lfw, encoder, tmp_path):
    check = ScriptedCheck([SPOOF])
    store, status, decisions = door_with(check, encoder, tmp_path, colin_walks_up())
    assert store.punch_log() == []
    assert [s.state for s in status.shown].count("spoof") == 1
    refused = next(s for s in status.shown if s.state == "spoof")
    assert refused.title == "Please look at the camera, not a photo" and "Colin" not in refused.detail
    assert status.spoofs == 1 and status.snapshot()["spoofs"] == 1
    event = status.last_spoofs[0]
    assert event.number == 1 and event.jpeg[:2] == b"\xff\xd8"  # a JPEG of the face for the admin
    assert cv2.imdecode(np.frombuffer(event.jpeg, np.uint8), cv2.IMREAD_COLOR).shape[0] <= 96
    assert decisions.kinds == [SPOOF_DECISION]
    assert check.observed > 10 and check.resets >= 1


@pytest.mark.lfw
def test_a_welcome_waits_for_the_check_and_is_punched_once(lfw, encoder, tmp_path):
    check = ScriptedCheck([WAIT] * 6 + [LIVE])
    store, status, decisions = door_with(check, encoder, tmp_path, colin_walks_up())
    assert [e.direction for e in store.punch_log()] == ["in"]
    states = [s.state for s in status.shown]
    assert "welcome" in states and "spoof" not in states
    assert decisions.kinds == ["welcome"]


@pytest.mark.lfw
def test_the_challenge_is_on_the_screen_and_not_doing_it_punches_nothing(lfw, encoder, tmp_path):
    check = ScriptedCheck([WAIT] * 20 + [TIMED_OUT], challenge_kind=TURN_LEFT)
    store, status, _ = door_with(check, encoder, tmp_path, colin_walks_up())
    assert store.punch_log() == []
    asked = [s for s in status.shown if s.state == "challenge"]
    assert asked and asked[0].title.startswith("\u2190") and "left" in asked[0].title
    assert asked[0].detail.endswith("s left") and "Colin" not in asked[0].title
    assert "challenge-failed" in [s.state for s in status.shown]


@pytest.mark.lfw
def test_who_walks_away_while_the_check_waits_is_not_punched(lfw, encoder, tmp_path):
    check = ScriptedCheck([WAIT])
    store, status, _ = door_with(check, encoder, tmp_path, colin_walks_up())
    assert store.punch_log() == []
    assert not {"welcome", "spoof"} & {s.state for s in status.shown}


# ---- the real models on synthetic scenes ------------------------------------------------------------


@pytest.mark.lfw
@pytest.mark.slow
def test_a_print_and_a_phone_are_refused_where_the_same_persons_head_is_welcomed(lfw, encoder, tmp_path):
    from kiosk.composition import liveness_check
    from kiosk.config import Config, LivenessSettings
    from kiosk.detection import make_detector
    from kiosk.face_mesh import FaceMesh
    from tests.spoof_scenes import all_scenes, photo_mesh

    scenes_photo = photo("Colin_Powell", 2)
    points = photo_mesh(scenes_photo, make_detector("full"), FaceMesh.load())
    scenes = all_scenes(scenes_photo, points, seed=3)
    outcomes = {}
    for kind, frames in scenes.items():
        check = liveness_check(Config(liveness=LivenessSettings(mode="passive")))
        (tmp_path / kind).mkdir()
        store, status, _ = door_with(check, encoder, tmp_path / kind, frames + [EMPTY] * 30)
        outcomes[kind] = (len(store.punch_log()), [s.state for s in status.shown if s.state in ("welcome", "spoof")])
    assert outcomes["genuine"] == (1, ["welcome"])
    assert outcomes["print"] == (0, ["spoof"])
    assert outcomes["screen"] == (0, ["spoof"])
