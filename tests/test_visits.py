"""The visit and vote rules on hand-made frame results."""

from kiosk.visits import Guidance, NotRecognised, Recognised, Seen, Visit, VisitEnded, VoteSettings, idle, step

RULES = VoteSettings(needed=3, window=5, gap_seconds=1.5)
ALICE, BOB = 1, 2
FRAME = 1 / 15


def good(person=None, distance=0.05):
    return Seen(face=True, good=True, person=person, distance=None if person is None else distance)


def play(frames, visit=Visit(), start=0.0):
    """Every event with the index of the frame that caused it."""
    happened = []
    for i, seen in enumerate(frames):
        visit, events = step(visit, seen, start + i * FRAME, RULES)
        happened += [(i, e) for e in events]
    return visit, happened


def kinds(happened):
    return [type(e).__name__ for _, e in happened]


def test_three_agreeing_good_frames_name_the_person_once():
    visit, happened = play([good(ALICE), good(None), good(ALICE), good(ALICE)] + [good(ALICE)] * 20)
    assert happened == [(3, Recognised(ALICE, 0.05))]
    assert visit.named == {ALICE}


def test_turned_and_blurred_faces_give_guidance_and_never_vote():
    turned = Seen(face=True, good=False, person=None, guidance="turned")
    blurred = Seen(face=True, good=False, person=ALICE, guidance="blurred")  # even if it matched
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
