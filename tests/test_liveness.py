"""The liveness rules (kiosk/liveness.py): flatness on hand-made point tracks (a plane
under rotation and perspective, a solid face, too little motion), blinks on hand-made
eye aspect ratios, and, with LFW, the face mesh and the rule on synthetic walk-ups,
printed photos and phones (tests/spoof_scenes.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from kiosk.face_mesh import FaceMeshResult
from kiosk.liveness import (
    FLAT,
    LEFT_EYE,
    RIGHT_EYE,
    THREE_D,
    TRACKED,
    UNDECIDED,
    Blinks,
    LivenessSettings,
    LivenessState,
    blink_step,
    eye_aspect_ratio,
    measure_pair,
    similarity_residuals,
    step,
    tracked_points,
)

SETTINGS = LivenessSettings()
FPS = 15
FOCAL, DISTANCE = 400.0, 6.0  # pixels per unit at one unit away; the face's distance in face half-widths
CENTRE = np.array([320.0, 240.0])


def face_points(solid: bool, seed: int = 1) -> np.ndarray:
    """468 points over an oval face two units wide: a rounded face with its nose
    forward (``solid``), or the same points on a plane (a photo of it)."""
    rng = np.random.default_rng(seed)
    angle, radius = rng.uniform(0, 2 * np.pi, 468), np.sqrt(rng.uniform(0, 1, 468))
    x, y = radius * np.cos(angle), 1.3 * radius * np.sin(angle)
    z = 0.8 * (x**2 + (y / 1.3) ** 2) - 0.4  # the cheeks and the face's edge curve back
    z[1] = -0.7  # the nose tip stands out (z: away from the camera)
    points = np.column_stack([x, y, z])
    points[[1, 2, 168, 6], :2] = [[0, 0.1], [0, 0.3], [0, -0.5], [0, -0.3]]  # nose tip, under it, bridge
    if not solid:
        points[:, 2] = 0.0
    return points


def project(points: np.ndarray, yaw=0.0, pitch=0.0, distance=DISTANCE, shift=(0.0, 0.0), noise=0.0, rng=None) -> np.ndarray:
    """The camera's view (x, y in pixels, z kept) of ``points`` turned by ``yaw`` and
    ``pitch`` degrees at ``distance``, with ``noise`` pixels of landmark jitter."""
    a, b = np.radians([yaw, pitch])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    turned = points @ (rx @ ry).T
    xy = FOCAL * turned[:, :2] / (distance + turned[:, 2:]) + CENTRE + shift
    if noise:
        xy = xy + (rng or np.random.default_rng(0)).normal(0, noise, xy.shape)
    return np.column_stack([xy, turned[:, 2] * FOCAL / distance])


def play(frames, settings=SETTINGS, state=None, score=1.0):
    state = state or LivenessState()
    for i, points in enumerate(frames):
        state = step(state, FaceMeshResult(points, score), i / FPS, settings)
    return state


def turning(points, yaw=25.0, pitch=8.0, frames=30, noise=0.3, **kw):
    """A face swinging from one side to the other while it comes closer."""
    rng = np.random.default_rng(2)
    return [
        project(points, yaw * np.cos(np.pi * s), pitch * np.sin(2 * np.pi * s), DISTANCE - 2 * s, noise=noise, rng=rng, **kw)
        for s in np.linspace(0, 1, frames)
    ]


# ---- flatness on hand-made tracks ------------------------------------------------------------------


def test_a_plane_moves_by_a_homography_and_a_solid_face_does_not():
    for solid, planar in ((False, 0.0), (True, None)):
        points = face_points(solid)
        old, new = (tracked_points(project(points, yaw)) for yaw in (-20, 20))
        measure = measure_pair(old, new)
        assert measure.motion > SETTINGS.min_motion
        if planar is not None:
            assert measure.planar == pytest.approx(planar, abs=1e-6)
        else:
            assert measure.planar > SETTINGS.three_d_residual


def test_moving_scaling_and_turning_in_the_picture_is_no_motion():
    """A similarity (shift, scale, rotation in the image plane) explains it all, solid or not."""
    old = tracked_points(project(face_points(True)))
    angle = np.radians(15)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    new = 1.4 * (old - CENTRE) @ rotation.T + CENTRE + [30, -12]
    measure = measure_pair(old, new)
    assert measure.motion == pytest.approx(0, abs=1e-9)
    assert measure.planar == pytest.approx(0, abs=1e-6)


def test_similarity_residuals_match_the_least_squares_fit():
    from kiosk.geometry import similarity_fit

    rng = np.random.default_rng(3)
    olds, new = rng.normal(0, 50, (4, len(TRACKED), 2)), rng.normal(0, 50, (len(TRACKED), 2))
    size = np.sqrt(((new - new.mean(0)) ** 2).sum(1).mean())
    for old, residual in zip(olds, similarity_residuals(olds, new), strict=True):
        linear, shift = similarity_fit(old, new)
        expected = np.sqrt(((old @ linear.T + shift - new) ** 2).sum(1).mean()) / size
        assert residual == pytest.approx(expected, rel=1e-9)


def test_a_photo_tilted_and_brought_closer_is_flat():
    state = play(turning(face_points(solid=False)))
    assert state.verdict == FLAT
    assert state.three_d == 0


def test_a_head_turning_is_three_d():
    state = play(turning(face_points(solid=True)))
    assert state.verdict == THREE_D


def test_coming_closer_without_turning_is_undecided():
    for solid in (True, False):
        frames = [project(face_points(solid), 0.5 * np.sin(i), 0, DISTANCE - i / 10, (i, 0), 0.3) for i in range(30)]
        state = play(frames)
        assert state.verdict == UNDECIDED, solid
        assert state.three_d == state.flat == 0


def test_a_far_picture_must_move_by_pixels_not_only_by_fractions():
    """Far away, a face's mesh flickers by a pixel or two as the detector's box does, in
    ways a plane explains; that alone must not vote flat."""
    near = turning(face_points(solid=False), noise=0.0)
    small = [(points - [*CENTRE, 0]) * [0.15, 0.15, 1] + [*CENTRE, 0] for points in near]
    assert play(small).verdict == UNDECIDED
    assert play(small, replace(SETTINGS, min_motion_pixels=0.0)).verdict == FLAT


def test_only_frames_of_a_like_size_vote_flat():
    """A head coming closer without turning, whose mesh shears a little as it grows in the
    picture (a plane explains a shear): far and near frames are not compared for flatness."""
    frames = []
    for distance in np.linspace(8, 3, 30):
        points = project(face_points(solid=True), 0, 0, distance, noise=0.2)
        u, v = (points[:, :2] - CENTRE).T
        points[:, 0] = CENTRE[0] + u + 0.07 * (8 / distance - 1) * v
        frames.append(points)
    assert play(frames, replace(SETTINGS, max_pair_scale=1.3)).verdict == UNDECIDED
    assert play(frames, replace(SETTINGS, max_pair_scale=10.0)).verdict == FLAT


def test_a_head_that_barely_turns_is_never_taken_for_a_photo():
    state = play(turning(face_points(solid=True), yaw=3.0, pitch=1.0))
    assert state.verdict != FLAT
    assert state.flat == 0


def test_the_verdict_holds_for_the_visit():
    head = play(turning(face_points(solid=True)))
    after = play(turning(face_points(solid=False)), state=head)
    assert after.verdict == THREE_D


def test_doubtful_meshes_and_missing_faces_change_nothing():
    frames = turning(face_points(solid=True))
    assert play(frames, score=0.2) == LivenessState()
    state = play(frames[:5])
    assert step(state, None, 1.0) is state


def test_only_recent_frames_are_compared():
    """A frame older than history_seconds is forgotten, so a slow drift proves nothing."""
    frames = turning(face_points(solid=True))
    state = LivenessState()
    for i, points in enumerate(frames):
        state = step(state, FaceMeshResult(points, 1.0), i * 3 * SETTINGS.history_seconds)
        assert len(state.history) == 1
    assert state.verdict == UNDECIDED


def test_a_different_face_starts_a_new_track():
    """Two faces turned differently, taken in turn (two people, a mesh gone wrong):
    never compared with each other, so they prove nothing."""
    one = project(face_points(solid=True), yaw=-20)
    other = project(face_points(solid=True), yaw=20, shift=(150, 0))
    state = play([one, other] * 10)
    assert len(state.history) == 1
    assert (state.three_d, state.flat, state.verdict) == (0, 0, UNDECIDED)
    bigger = (one - [*CENTRE, 0]) * [1.6, 1.6, 1] + [*CENTRE, 0]
    assert play([one, bigger] * 10).three_d == 0


def test_the_thresholds_are_settings():
    frames = turning(face_points(solid=True))
    assert play(frames, replace(SETTINGS, three_d_residual=10.0)).verdict != THREE_D
    assert play(frames, replace(SETTINGS, three_d_votes=1000)).verdict == UNDECIDED


# ---- blinks ------------------------------------------------------------------------------------------


def blinks_in(ears, settings=SETTINGS, fps=FPS):
    blinks = Blinks()
    for i, ear in enumerate(ears):
        blinks = blink_step(blinks, ear, i / fps, settings)
    return blinks.count


def test_a_blink_is_a_drop_and_a_recovery():
    assert blinks_in([0.3] * 6 + [0.12, 0.08, 0.15] + [0.3] * 4) == 1
    assert blinks_in([0.3] * 6 + [0.1, 0.3] * 1 + [0.29] * 5 + [0.1, 0.1, 0.31]) == 2


def test_no_blink_without_recovery_or_when_closed_too_long():
    assert blinks_in([0.3] * 6 + [0.1] * 5) == 0
    assert blinks_in([0.3] * 6 + [0.1] * round(2 * SETTINGS.max_blink_seconds * FPS) + [0.3] * 3) == 0


def test_turning_and_drifting_eyes_are_no_blink():
    """The open-eye EAR follows a slow change (a head turning narrows the eyes)."""
    assert blinks_in(list(np.linspace(0.34, 0.2, 40)) + list(np.linspace(0.2, 0.34, 40))) == 0


def test_a_blink_needs_open_eyes_first():
    assert blinks_in([0.3, 0.1, 0.3]) == 0
    assert blinks_in([0.3, 0.1, 0.3], replace(SETTINGS, open_frames=1)) == 1


def eyes(opening: float) -> np.ndarray:
    """Mesh points whose eyes are 30 px wide and open by ``opening`` px."""
    points = np.zeros((468, 3))
    for left, eye in ((100.0, RIGHT_EYE), (160.0, LEFT_EYE)):
        p1, p2, p3, p4, p5, p6 = eye
        points[p1, :2], points[p4, :2] = (left, 100), (left + 30, 100)
        points[[p2, p3], 0], points[[p6, p5], 0] = (left + 10, left + 20), (left + 10, left + 20)
        points[[p2, p3], 1], points[[p6, p5], 1] = 100 - opening / 2, 100 + opening / 2
    return points


def test_eye_aspect_ratio_and_blinks_from_the_mesh():
    assert eye_aspect_ratio(eyes(9.0)) == pytest.approx(9.0 / 30)
    frames = turning(face_points(solid=True))
    state = LivenessState()
    for i, opening in enumerate([9.0] * 6 + [2.0, 1.0] + [9.0] * 4):
        points = frames[i].copy()
        points[list(RIGHT_EYE + LEFT_EYE)] = eyes(opening)[list(RIGHT_EYE + LEFT_EYE)]
        state = step(state, FaceMeshResult(points, 1.0), i / FPS)
    assert state.blinks.count == 1


# ---- the face mesh and the rule on synthetic scenes (LFW) --------------------------------------------

PEOPLE = 20  # DevTest people (the thresholds were chosen on DevTrain people)
SAVED_FRAMES = 4  # frames of each scene kept as PNGs for a person to look at
BARELY_TURNING = (2, 5)  # degrees each way: a real head that proves nothing, and must not look flat


def usable_photos(lfw, detector, count: int):
    """(person, photo) for ``count`` DevTest people spread over the list whose first
    photo is what the kiosk would enrol: one face, good quality (front-on, sharp).
    A head can only be rendered turning from a front-on photo, and an attacker
    shows the kind of photo the kiosk accepts."""
    from kiosk.quality import check_quality
    from tests.helpers import lfw_image

    names = [line.split("\t")[0] for line in (lfw / "peopleDevTest.txt").read_text().splitlines()[1:] if line.strip()]
    stride = len(names) // (2 * count)  # twice as many candidates as needed
    chosen, refused = [], []
    for name in names[::stride]:
        photo = cv2.imread(str(lfw_image(name)))
        faces = detector.detect(photo)
        if len(faces) == 1 and check_quality(photo, faces).good:
            chosen.append((name, photo))
        else:
            refused.append(name)
        if len(chosen) == count:
            break
    return chosen, refused


def verdict_of(frames, detector, mesh) -> tuple[str, int | None]:
    """The visit's verdict over ``frames`` and the frame it was reached at. The face
    is found by the detector (the largest) and then followed by its mesh, as MediaPipe
    does: a new detection's box every frame would bend the mesh with its jitter."""
    state, found = LivenessState(), None
    for i, frame in enumerate(frames):
        if found is not None and found.score >= SETTINGS.min_face_score:
            found = mesh.follow(frame, found)
        else:
            faces = detector.detect(frame)
            found = mesh.start(frame, max(faces, key=lambda f: f.width)) if faces else None
        state = step(state, found, i / FPS)
        if state.verdict != UNDECIDED:
            return state.verdict, i
    return state.verdict, None


@pytest.mark.lfw
@pytest.mark.slow
def test_synthetic_walk_ups_are_three_d_and_photos_and_phones_are_not(lfw):
    from kiosk.detection import make_detector
    from kiosk.face_mesh import FaceMesh
    from tests.helpers import TEST_OUTPUT
    from tests.spoof_scenes import all_scenes, genuine_walk_up, photo_mesh

    detector, mesh = make_detector("full"), FaceMesh.load()
    out = TEST_OUTPUT / "spoof-scenes"
    out.mkdir(parents=True, exist_ok=True)
    verdicts: dict[str, list] = {"genuine": [], "print": [], "screen": [], "barely_turning": []}
    people, refused = usable_photos(lfw, detector, PEOPLE)
    assert len(people) == PEOPLE, refused
    for n, (person, photo) in enumerate(people):
        points = photo_mesh(photo, detector, mesh)
        assert points is not None, person
        scenes = all_scenes(photo, points, seed=n)
        scenes["barely_turning"] = genuine_walk_up(photo, points, seed=n, yaw_range=BARELY_TURNING)
        for kind, frames in scenes.items():
            verdicts[kind].append((person, *verdict_of(frames, detector, mesh)))
            if n == 0:  # for a person to look at; test-output/ is never committed
                for i in np.linspace(0, len(frames) - 1, SAVED_FRAMES).astype(int):
                    cv2.imwrite(str(out / f"{kind}-{i:02d}.png"), frames[i])
    rates = {
        kind: {v: sum(r[1] == v for r in rows) / len(rows) for v in (THREE_D, FLAT, UNDECIDED)} for kind, rows in verdicts.items()
    }
    reached = {kind: [r[2] for r in rows if r[2] is not None] for kind, rows in verdicts.items()}
    report = {
        "people": len(verdicts["genuine"]),
        "photos_refused": refused,
        "rates": rates,
        "median_frame_decided": {k: float(np.median(v)) if v else None for k, v in reached.items()},
        "verdicts": verdicts,
    }
    (out / "rates.json").write_text(json.dumps(report, indent=1))
    assert rates["genuine"][THREE_D] >= 0.95, report
    assert rates["genuine"][FLAT] == rates["barely_turning"][FLAT] == 0, report
    for attack in ("print", "screen"):
        assert rates[attack][THREE_D] <= 0.05, report
        # Held up still enough, a picture proves nothing either way; the texture cue has to catch those.
        # Measured: print 80%, phone 95% flat (the rest undecided).
        assert rates[attack][FLAT] >= 0.6, report
