"""benchmarks/door_week_replay.py on a hand-made week: the replay goes through
the kiosk's own visit rules, judge and learning, so staff whose frames are
near their photo are welcomed and taught a template (unless learning is off),
a stranger is not, and the counts add up."""

import numpy as np

from benchmarks.door_week import WalkUp
from benchmarks.door_week_replay import Frame, replay
from kiosk.config import BUNDLED_MODEL
from kiosk.contract import load_contract
from kiosk.detection import Detection
from kiosk.enrollment import Reference
from kiosk.matching import l2_normalize
from kiosk.visits import FAIR, GOOD


def near(base: np.ndarray, rng, spread: float) -> np.ndarray:
    return l2_normalize(base + spread * rng.normal(size=base.shape))


def walk_up(centre: np.ndarray, rng) -> list[Frame]:
    """Nobody, far and fair, then close and good; each face's kept picture like its frame."""
    frames = [Frame(False, None, None, None, 0.0)] * 3
    for tier, width in [(FAIR, 60.0)] * 2 + [(GOOD, 190.0)] * 12:
        embedding = near(centre, rng, 0.01)
        frames.append(Frame(True, tier, embedding, near(embedding, rng, 0.005), width))
    return frames


def test_staff_are_welcomed_and_taught_a_template_and_a_stranger_is_not(tmp_path):
    rng = np.random.default_rng(0)
    photos = {name: l2_normalize(rng.normal(size=128)) for name in ("Alice", "Bob")}
    face = Detection(np.array([80, 80, 176, 176], np.float32), 0.9, np.zeros((6, 2), np.float32))
    references = {
        n: Reference(np.zeros((256, 256, 3), np.uint8), face, np.zeros((150, 150, 3), np.uint8), e) for n, e in photos.items()
    }
    stranger = l2_normalize(rng.normal(size=128))
    week = [
        [
            (WalkUp(day, "Alice", False, None, None), walk_up(photos["Alice"], rng)),
            (WalkUp(day, "Carol", True, None, None), walk_up(stranger, rng)),
            (WalkUp(day, "Bob", False, None, None), walk_up(photos["Bob"], rng)),
        ]
        for day in range(2)
    ]
    profiles = {"candidate": {}, "learning off": {"recognition": {"learn_from_visits": False}}}
    figures = replay(week, ["Alice", "Bob"], references, load_contract(BUNDLED_MODEL), profiles, tmp_path)
    for name, learnt in (("candidate", [2, 4]), ("learning off", [0, 0])):
        days = figures[name]["days"]
        assert [d["right"] for d in days] == [2, 2] and figures[name]["week_percent"] == 100.0
        assert figures[name]["wrong"] == 0 and figures[name]["strangers_welcomed"] == 0
        assert [d["templates"] for d in days] == learnt
