"""Templates learnt at the door, on hand-made embeddings: the rules (when a
welcome is confident, the anchor to the enrolment photo, the most varied kept)
and the application's learning, cap, undo on a void, and removal."""

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from kiosk import attendance, templates
from kiosk.application import Application
from kiosk.config import AttendanceSettings, RecognitionSettings
from kiosk.detection import Detection
from kiosk.matching import l2_normalize
from kiosk.recognition import Thresholds
from kiosk.store import Store
from kiosk.templates import BestFace
from kiosk.visits import GOOD, Evidence, Recognised, Seen, VisitSettings

THRESHOLD = 0.10
T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def unit(*v):
    return l2_normalize(np.array(v, np.float32))


def at_distance(base, off, axis):
    """A unit vector at cosine distance ``off`` from ``base`` (a unit axis vector), leaning towards ``axis``."""
    v = np.array(base, np.float64)
    v[axis] = np.sqrt(1 / (1 - off) ** 2 - 1)
    return l2_normalize(v)


# ---- the rules --------------------------------------------------------------------------------------------------------


def test_a_welcome_is_confident_only_well_inside_the_threshold_and_clear_of_the_runner_up():
    assert templates.confident(0.05, 0.08, THRESHOLD, within=0.8, clear_by=0.5)
    assert not templates.confident(0.09, 0.08, THRESHOLD, within=0.8, clear_by=0.5)  # accepted, but near the edge
    assert not templates.confident(0.05, 0.04, THRESHOLD, within=0.8, clear_by=0.5)  # a look-alike was close behind


def test_a_welcome_is_not_confident_while_anyone_else_is_within_the_threshold_too():
    assert templates.confident(0.07, 0.04, THRESHOLD, within=1.0, clear_by=0.1)  # the runner-up at 0.11: named nobody else
    assert not templates.confident(0.05, 0.04, THRESHOLD, within=1.0, clear_by=0.1)  # at 0.09 they could have been named
    assert not templates.confident(0.06, 0.04, THRESHOLD, within=1.0, clear_by=0.1)  # at the threshold itself


def test_a_template_must_match_the_enrolment_photo_on_its_own():
    reference = unit(1, 0, 0, 0)
    assert templates.anchored(at_distance(reference, 0.09, 1), reference, THRESHOLD)
    assert not templates.anchored(at_distance(reference, 0.11, 1), reference, THRESHOLD)


def test_the_most_varied_templates_are_kept():
    reference = unit(1, 0, 0, 0)
    rows = np.stack(
        [
            at_distance(reference, 0.05, 1),
            at_distance(reference, 0.05, 2),
            at_distance(reference, 0.001, 1),  # nearly the enrolment photo: adds nothing
            at_distance(reference, 0.05, 3),
        ]
    )
    assert templates.most_varied(reference, rows, keep=3) == [0, 1, 3]
    assert templates.most_varied(reference, rows, keep=5) == [0, 1, 2, 3]
    assert templates.most_varied(reference, rows, keep=0) == []


def test_a_good_face_beats_a_fair_one_and_then_the_larger_face():
    def best(width, good):
        return BestFace(
            np.zeros((4, 4, 3), np.uint8), Detection(np.array([0, 0, width, width], np.float32), 1.0, np.zeros((6, 2))), good
        )

    assert best(50, True).beats(None)
    assert best(40, True).beats(best(90, False)) and not best(90, False).beats(best(40, True))
    assert best(60, True).beats(best(50, True)) and not best(50, True).beats(best(60, True))


# ---- the application, with a hand-made recogniser ------------------------------------------------------------------


class Encoder:
    """Stands in for the face pipeline: a fixed crop, the embedding the test gives the
    visit's best face (``face``), and the model's version."""

    embedder = SimpleNamespace(contract=SimpleNamespace(version="v1"))

    def __init__(self):
        self.face = unit(0, 0, 0, 1)

    def embed_face(self, image, face):
        return np.zeros((8, 8, 3), np.uint8), self.face


class Recogniser:
    def __init__(self, **settings):
        self.encoder, self.settings = Encoder(), RecognitionSettings(**settings)

    def comparisons(self, gallery):
        return gallery.pictures

    def thresholds(self, gallery_size, fused=False):
        return Thresholds(THRESHOLD, THRESHOLD / 2)


@pytest.fixture
def app(tmp_path):
    store = Store(tmp_path / "kiosk.db")
    yield Application(store, Recogniser(), AttendanceSettings(timezone="UTC", cooldown_seconds=0), "door", clock=lambda: T0)
    store.close()


def enrol(app, name, embedding):
    return app.store.add_employee(
        name, image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=embedding, model_version="v1"
    )


def welcome(app, person, fused, distance, margin=0.09, good=True, best_face=None):
    """A visit named ``person`` on ``fused`` evidence whose best face embeds as ``best_face`` (default: as
    the evidence); returns what it punched and the template it taught (or None)."""
    app.encoder.face = fused if best_face is None else best_face
    evidence = Evidence().add(Seen(face=True, tier=GOOD, embedding=fused), VisitSettings())
    event = Recognised(person, distance, evidence, margin)
    face = Detection(
        np.array([100, 100, 200, 200], np.float32),
        0.9,
        np.array([[130, 140], [170, 140], [150, 160], [150, 180], [110, 150], [190, 150]], np.float32),
    )
    best = BestFace(np.full((480, 640, 3), 90, np.uint8), face, good)
    outcome = app.record_visit(person, distance)
    return outcome.entry, app.learn(person, event, best, outcome.entry)


def test_a_confident_welcome_becomes_a_template_and_joins_the_gallery(app):
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    bob = enrol(app, "Bob", unit(0, 1, 0, 0))
    fused = at_distance(unit(1, 0, 0, 0), 0.05, 2)
    entry, learnt = welcome(app, alice, fused, distance=0.05)
    assert learnt is not None and [t.source for t in app.templates_of(alice)] == ["door"]
    assert app.templates_of(alice)[0].entry_id == entry.id and app.templates_of(bob) == []
    gallery = app.gallery()
    assert list(gallery.ids) == [alice, bob] and len(gallery.embeddings) == 3
    # Alice is now nearest through her template: a face like the visit's is at distance 0, not 0.05.
    assert gallery.distances(fused)[0] == pytest.approx(0, abs=1e-6)


def test_the_template_is_the_best_faces_own_embedding_not_the_visits_average(app):
    """The door judges averaged faces against single pictures; a template must be a single picture."""
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    fused, best = at_distance(unit(1, 0, 0, 0), 0.02, 2), at_distance(unit(1, 0, 0, 0), 0.06, 3)
    _, learnt = welcome(app, alice, fused, distance=0.02, best_face=best)
    assert learnt is not None
    _, rows = app.templates.embeddings(alice, "v1")
    np.testing.assert_allclose(rows[0], best, atol=1e-6)
    # and it is the best face that must match the enrolment photo on its own
    _, drifted = welcome(app, alice, fused, distance=0.02, best_face=at_distance(unit(1, 0, 0, 0), 0.15, 3))
    assert drifted is None
    owner, picture = app.template_picture(learnt)
    assert owner == alice and picture.shape == (256, 256, 3)


@pytest.mark.parametrize(
    ("distance", "margin", "good", "within"),
    [(0.09, 0.09, True, 0.8), (0.05, 0.02, True, 1.0), (0.05, 0.09, False, 1.0)],
    ids=["near the threshold (learn_within 0.8)", "a look-alike close behind", "no good face"],
)
def test_an_unsure_welcome_teaches_nothing(app, distance, margin, good, within):
    app.recognizer = Recogniser(learn_within=within)
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    entry, learnt = welcome(app, alice, at_distance(unit(1, 0, 0, 0), distance, 2), distance, margin, good)
    assert entry is not None and learnt is None and app.templates_of(alice) == []


def test_a_face_that_also_looks_like_a_colleague_is_not_kept(app):
    """The visit named Alice clearly, but its best face on its own is as like Bob's photo as hers."""
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    best = at_distance(unit(1, 0, 0, 0), 0.06, 2)
    bob = enrol(app, "Bob", l2_normalize(best + 0.35 * unit(0, 0, 0, 1)))
    bob_photo = app.gallery().embeddings[1]
    assert 1 - float(bob_photo @ best) < THRESHOLD < 1 - float(bob_photo @ unit(1, 0, 0, 0))
    entry, learnt = welcome(app, alice, unit(1, 0, 0, 0), distance=0.0, margin=0.5, best_face=best)
    assert entry is not None and learnt is None and app.templates_of(alice) == []
    # The same face without Bob enrolled is kept.
    app.remove(bob)
    app.clock = lambda: T0 + dt.timedelta(hours=1)
    _, learnt = welcome(app, alice, unit(1, 0, 0, 0), distance=0.0, margin=0.5, best_face=best)
    assert learnt is not None


def test_a_template_that_drifted_from_the_enrolment_photo_is_not_kept(app):
    """Welcomed through earlier templates, but no longer like the enrolment photo itself."""
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    entry, learnt = welcome(app, alice, at_distance(unit(1, 0, 0, 0), 0.15, 2), distance=0.05)
    assert entry is not None and learnt is None


def test_at_most_max_templates_the_most_varied(app):
    app.recognizer = Recogniser(max_templates=2)
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    for axis, off in ((1, 0.05), (2, 0.05), (1, 0.049), (3, 0.05)):  # the third is like the first
        app.clock = (lambda t: lambda: t)(app.clock() + dt.timedelta(hours=1))
        welcome(app, alice, at_distance(unit(1, 0, 0, 0), off, axis), distance=0.05)
    _, rows = app.templates.embeddings(alice, "v1")
    assert len(rows) == 2
    leaning = sorted(int(np.argmax(np.abs(r[1:]))) + 1 for r in rows)
    assert leaning in ([1, 3], [2, 3], [1, 2])  # never two alike: one of the pair leaning on axis 1 went


def test_voiding_a_punch_as_the_wrong_person_removes_the_template_it_taught(app):
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    entry, learnt = welcome(app, alice, at_distance(unit(1, 0, 0, 0), 0.05, 2), distance=0.05)
    app.correct(entry.id, attendance.VOID, author="admin", note="double punch")
    assert len(app.templates_of(alice)) == 1  # voided for another reason: the face was still Alice's
    app.correct(entry.id, attendance.VOID, author="admin", note="that was Bob", wrong_person=True)
    assert app.templates_of(alice) == [] and len(app.gallery().embeddings) == 1


def test_removing_a_person_removes_their_templates(app):
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    welcome(app, alice, at_distance(unit(1, 0, 0, 0), 0.05, 2), distance=0.05)
    app.remove(alice)
    assert app.store.db.execute("SELECT COUNT(*) FROM templates").fetchone()[0] == 0


def test_learning_can_be_turned_off(app):
    app.recognizer = Recogniser(learn_from_visits=False)
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    entry, learnt = welcome(app, alice, at_distance(unit(1, 0, 0, 0), 0.05, 2), distance=0.05)
    assert entry is not None and learnt is None


def test_the_mean_of_a_persons_pictures_can_stand_for_them(app):
    app.recognizer = Recogniser(match_templates="mean")
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    welcome(app, alice, at_distance(unit(1, 0, 0, 0), 0.05, 2), distance=0.05)
    gallery = app.gallery()
    assert gallery.embeddings.shape == (1, 4) and gallery.starts is None
    assert 0 < gallery.distances(unit(1, 0, 0, 0))[0] < 0.05


def test_look_alike_pairs_already_enrolled_are_flagged_whatever_the_order(app):
    alice = enrol(app, "Alice", unit(1, 0, 0, 0))
    bob = enrol(app, "Bob", unit(0, 1, 0, 0))
    twin = enrol(app, "Alice's twin", at_distance(unit(1, 0, 0, 0), 0.06, 2))
    pairs = app.lookalike_pairs()
    assert [(p.first, p.second) for p in pairs] == [(alice, twin)] and pairs[0].distance == pytest.approx(0.06, abs=1e-4)
    assert bob not in {p.first for p in pairs} | {p.second for p in pairs}
    app.remove(twin)
    assert app.lookalike_pairs() == []
