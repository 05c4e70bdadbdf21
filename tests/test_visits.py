"""The visit rules on hand-made frame results: release 2026.11's vote (kept to
compare against), then fused evidence judged against a hand-made gallery."""

import numpy as np
import pytest

from kiosk.visits import (
    FAIR,
    GOOD,
    Guidance,
    NotRecognised,
    Opinion,
    Recognised,
    Seen,
    Visit,
    VisitEnded,
    VisitSettings,
    idle,
    step,
)

RULES = VisitSettings(mode="votes", needed=3, window=5, gap_seconds=1.5)
ALICE, BOB = 1, 2
FRAME = 1 / 15


def good(person=None, distance=0.05):
    return Seen(face=True, tier=GOOD, person=person, distance=None if person is None else distance)


def play(frames, visit=Visit(), start=0.0, rules=RULES, judge=None):
    """Every event with the index of the frame that caused it."""
    happened = []
    for i, seen in enumerate(frames):
        visit, events = step(visit, seen, start + i * FRAME, rules, judge)
        happened += [(i, e) for e in events]
    return visit, happened


def kinds(happened):
    return [type(e).__name__ for _, e in happened]


def test_three_agreeing_good_frames_name_the_person_once():
    visit, happened = play([good(ALICE), good(None), good(ALICE), good(ALICE)] + [good(ALICE)] * 20)
    assert happened == [(3, Recognised(ALICE, 0.05))]
    assert visit.named == {ALICE}


def test_turned_and_blurred_faces_give_guidance_and_never_vote():
    turned = Seen(face=True, person=None, guidance="turned")
    blurred = Seen(face=True, person=ALICE, guidance="blurred")  # even if it matched
    visit, happened = play([turned] * 10 + [blurred] * 10)
    assert kinds(happened) == ["Guidance"] * 20 and happened[0][1] == Guidance("turned")
    assert visit.votes == () and not visit.unknown_decided


def test_a_stranger_is_not_recognised_once_per_visit():
    visit, happened = play([good(None)] * 30)
    assert happened == [(4, NotRecognised())]


def test_split_votes_end_in_not_recognised_after_patience_and_the_person_can_still_be_named():
    split = [good(ALICE), good(None), good(None)] * 5  # never 3 of 5 for Alice, never 5 of 5 for nobody
    visit, happened = play(split)
    assert happened == [(RULES.patience - 1, NotRecognised())]
    visit, later = play([good(ALICE)] * 3, visit, start=len(split) * FRAME)
    assert kinds(later) == ["Recognised"]


def test_a_named_person_staying_in_view_is_not_also_not_recognised():
    visit, happened = play([good(ALICE)] * 3 + [good(ALICE), good(None), good(None)] * 10)
    assert kinds(happened) == ["Recognised"]


def test_a_second_person_stepping_in_is_named_too():
    visit, happened = play([good(ALICE)] * 3 + [good(BOB)] * 3)
    assert [e for _, e in happened] == [Recognised(ALICE, 0.05), Recognised(BOB, 0.05)]


def test_a_gap_without_a_face_ends_the_visit_and_the_same_person_is_named_again():
    visit, happened = play([good(ALICE)] * 3)
    visit, ended = step(visit, Seen(face=False), 3 * FRAME + 2.0, RULES)
    assert ended == [VisitEnded()] and not visit.active
    visit, again = play([good(ALICE)] * 3, visit, start=3.0)
    assert kinds(again) == ["Recognised"]


def test_no_face_for_less_than_the_gap_keeps_the_visit():
    visit, _ = play([good(ALICE)] * 2)
    visit, events = step(visit, Seen(face=False), 1.0, RULES)
    assert events == [] and visit.votes == (ALICE, ALICE)
    visit, events = step(visit, good(ALICE), 1.1, RULES)
    assert events == [Recognised(ALICE, 0.05)]


def test_idle_time_ends_a_visit_without_frames():
    visit, _ = play([good(ALICE)])
    assert idle(visit, 1.0, RULES) == (visit, [])
    assert idle(visit, 2.0, RULES) == (Visit(), [VisitEnded()])


# ---- fused evidence ----------------------------------------------------------------------------------------------------

FUSED = VisitSettings(mode="fused", evidence_frames=2, decide_frames=5, fair_weight=0.5, gap_seconds=1.5)
# A gallery of two people in 3-D, and a judge like the kiosk's: nearest person, a threshold per tier, a margin.
PEOPLE = {ALICE: np.array([1.0, 0.0, 0.0]), BOB: np.array([0.0, 1.0, 0.0])}
THRESHOLD = {GOOD: 0.10, FAIR: 0.05}


def judge(embedding, tier):
    distances = {p: 1.0 - float(v @ embedding) for p, v in PEOPLE.items()}
    (first, d1), (_, d2) = sorted(distances.items(), key=lambda kv: kv[1])
    return Opinion(first, d1, d1 <= THRESHOLD[tier] and d2 - d1 >= 0.1 * THRESHOLD[tier], d2 - d1)


def face(direction, tier=GOOD, guidance=None):
    v = np.asarray(direction, np.float64)
    return Seen(face=True, tier=tier, embedding=(v / np.linalg.norm(v)).astype(np.float32), guidance=guidance)


def near(person, off, axis=2):
    """A face of ``person`` pushed towards a third direction: at cosine distance about ``off``."""
    v = PEOPLE[person].copy()
    v[axis] = np.sqrt(1 / (1 - off) ** 2 - 1)
    return v


def test_two_frames_that_each_miss_are_fused_into_a_welcome():
    # Each frame alone is beyond the good threshold (0.12 > 0.10), pushed in opposite directions; their mean is not.
    left, right = near(ALICE, 0.12, axis=2), near(ALICE, 0.12, axis=2) * np.array([1, 1, -1])
    assert not judge(face(left).embedding, GOOD).accepted and not judge(face(right).embedding, GOOD).accepted
    visit, happened = play([face(left), face(right)], rules=FUSED, judge=judge)
    assert [(i, type(e).__name__, e.person) for i, e in happened] == [(1, "Recognised", ALICE)]
    assert happened[0][1].distance < 0.01 and happened[0][1].evidence.frames == 2


def test_one_good_frame_is_not_enough_evidence_to_name_anyone():
    visit, happened = play([face(PEOPLE[ALICE])], rules=FUSED, judge=judge)
    assert happened == [] and visit.evidence.weight == 1.0


def test_fair_faces_count_at_half_weight_and_are_judged_at_the_fair_threshold():
    # Four fair frames are worth two good ones; at 0.07 they pass the good threshold but not the fair one.
    visit, happened = play([face(near(ALICE, 0.07), FAIR, "turned")] * 4, rules=FUSED, judge=judge)
    assert kinds(happened) == ["Guidance"] * 4 and visit.evidence.weight == 2.0 and visit.evidence.tier == FAIR
    # The same faces with one good face among them are judged at the good threshold.
    visit, happened = play([face(near(ALICE, 0.07), FAIR, "turned")] * 2 + [face(near(ALICE, 0.07))], rules=FUSED, judge=judge)
    assert kinds(happened)[-1] == "Recognised" and happened[-1][0] == 2


def test_only_fair_faces_close_enough_still_get_a_welcome():
    visit, happened = play([face(near(ALICE, 0.03), FAIR, "too_small")] * 4, rules=FUSED, judge=judge)
    assert [type(e).__name__ for _, e in happened if not isinstance(e, Guidance)] == ["Recognised"]
    assert happened[-1][0] == 3  # the fourth fair face makes two good frames' worth


def test_a_stranger_is_not_recognised_once_after_five_good_frames():
    visit, happened = play([face([0, 0, 1])] * 30, rules=FUSED, judge=judge)
    assert happened == [(4, NotRecognised())]


def test_refused_faces_give_guidance_and_never_count():
    refused = Seen(face=True, tier=None, guidance="too_small")
    visit, happened = play([refused] * 30, rules=FUSED, judge=judge)
    assert kinds(happened) == ["Guidance"] * 30 and visit.evidence.weight == 0 and not visit.unknown_decided


def test_a_second_person_stepping_in_is_named_on_their_own_evidence():
    visit, happened = play([face(PEOPLE[ALICE])] * 2 + [face(PEOPLE[BOB])] * 2, rules=FUSED, judge=judge)
    assert [(i, e.person) for i, e in happened] == [(1, ALICE), (3, BOB)]


def test_a_named_person_is_named_once_per_visit_and_again_after_a_gap():
    visit, happened = play([face(PEOPLE[ALICE])] * 10, rules=FUSED, judge=judge)
    assert kinds(happened) == ["Recognised"] and not visit.unknown_decided
    visit, again = play([face(PEOPLE[ALICE])] * 2, visit, start=10 * FRAME + 2.0, rules=FUSED, judge=judge)
    assert kinds(again) == ["VisitEnded", "Recognised"]


def test_not_recognised_and_then_named_when_better_frames_come():
    far = face(near(ALICE, 0.3))
    visit, happened = play([far] * 5 + [face(PEOPLE[ALICE])] * 20, rules=FUSED, judge=judge)
    assert kinds(happened) == ["NotRecognised", "Recognised"]


@pytest.mark.parametrize("mode", ["fused", "votes"])
def test_an_empty_picture_keeps_the_visit_until_the_gap(mode):
    rules = VisitSettings(mode=mode)
    visit, _ = play([face(PEOPLE[ALICE])], rules=rules, judge=judge)
    visit, events = step(visit, Seen(face=False), 1.0, rules, judge)
    assert events == [] and visit.active
    visit, events = step(visit, Seen(face=False), 2.0, rules, judge)
    assert events == [VisitEnded()] and not visit.active


def test_every_face_that_stands_there_for_two_seconds_gets_an_answer():
    """Whatever mixture of refused, fair and good faces, known or not: within 2 s at 15 fps a welcome,
    "not recognised" or guidance."""
    rng = np.random.default_rng(7)
    answers = (Recognised, NotRecognised, Guidance)
    for _ in range(300):
        frames = []
        for _ in range(30):
            kind = rng.choice(["refused", "fair", "good"], p=rng.dirichlet([1, 1, 1]))
            direction = PEOPLE[ALICE] if rng.random() < 0.5 else rng.normal(size=3)
            if kind == "refused":
                frames.append(Seen(face=True, guidance=str(rng.choice(["too_small", "turned", "blurred", "too_dark"]))))
            else:
                frames.append(
                    face(
                        direction + rng.normal(scale=0.05, size=3),
                        FAIR if kind == "fair" else GOOD,
                        "turned" if kind == "fair" else None,
                    )
                )
        _, happened = play(frames, rules=FUSED, judge=judge)
        assert any(isinstance(e, answers) for _, e in happened)
