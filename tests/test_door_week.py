"""benchmarks/door_week.py: the week's plan, the camera-time replay, and the
benchmark's core on a tiny week (2 staff and 1 stranger for 1 day through
the real loop), where every walk-up must be classified exactly once and the
counts must add up."""

import collections
import time

import pytest

from benchmarks.door_week import (
    OUTCOMES,
    PROFILES,
    STRANGER_OUTCOMES,
    CameraTimeReplay,
    day_photos,
    run_week,
)
from tests.helpers import LFW


def busy(seconds: float) -> None:
    """Spend this much CPU time in this thread, however loaded the machine is."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_each_day_walks_up_with_another_pair_of_photos_never_the_enrolment_photo():
    for count in (5, 6, 30):
        pairs = [day_photos("Someone_Else", count, day, seed=0) for day in range(5)]
        assert len(set(pairs)) == 5
        assert all(1 < frontal <= count and 1 < turned <= count and frontal != turned for frontal, turned in pairs)
    assert day_photos("Someone_Else", 5, 0, seed=0) == day_photos("Someone_Else", 5, 0, seed=0)


def test_camera_time_skips_the_frames_taken_while_the_loop_was_busy_and_nothing_while_it_waited():
    camera = CameraTimeReplay(list(range(10)), fps=10)
    assert camera.read() == 0
    busy(0.25)  # two and a half frame intervals: frames 1 and 2 are taken meanwhile
    assert camera.read() == 2
    assert 0.25 <= camera.monotonic() < 0.3
    assert camera.read() == 3  # idle until the camera's next frame, at 0.3 s
    assert camera.taken[3] == pytest.approx(0.3)
    assert camera.reads == 3 and len(camera.taken) == 4


@pytest.mark.slow
@pytest.mark.lfw
def test_a_tiny_week_classifies_every_walk_up_once_and_the_counts_add_up():
    if not (LFW / "peopleDevTest.txt").is_file():
        pytest.skip(f"LFW's peopleDevTest.txt is not at {LFW}")
    figures = run_week(LFW, profiles=PROFILES, days=1, limit=2, strangers=1, progress=False)
    staff = figures["staff"]
    assert staff["drawn"] == 2 and staff["enrolled"] + staff["refused_photo_1"] == 2
    assert set(figures["profiles"]) == set(PROFILES)
    for name, profile in figures["profiles"].items():
        results = figures["walkups"][name]
        walked = collections.Counter((r.walkup.day, r.walkup.person) for r in results)
        assert len(walked) == staff["enrolled"] + 1 and set(walked.values()) == {1}
        for r in results:
            assert r.outcome in (STRANGER_OUTCOMES if r.walkup.stranger else OUTCOMES)
            assert bool(r.greeted) == (r.outcome in ("right", "wrong", "welcomed"))
            assert (r.wait_ms is not None) == (r.outcome == "right")
            assert (r.why is None) == (r.walkup.stranger or r.outcome == "right")
        (day,) = profile["days"]
        assert day == profile["week"]
        assert day["staff"] == staff["enrolled"] == sum(day[k]["count"] for k in OUTCOMES)
        assert day["strangers"] == 1 == sum(day[f"strangers {k}"]["count"] for k in STRANGER_OUTCOMES)
        assert sum(day[k]["percent"] for k in OUTCOMES) == pytest.approx(100, abs=0.2)
        assert day["wait_from_first_usable"]["n"] == day["right"]["count"]
        assert len(profile["templates_learnt_by_day"]) == 1
