"""Is the face at the kiosk a solid head or a flat picture? Decided over a visit
from the 468-point face mesh (:mod:`kiosk.face_mesh`), not per frame.

**Flatness.** A printed photo or a phone that moves, tilts or comes closer maps
from frame to frame by a homography (a plane seen by a camera); a real head
that turns does not, because the nose, the eyes and the cheeks lie at different
depths (parallax). For each new frame the rule takes the frame of the last
``history_seconds`` that differs from it most by more than a similarity (the
motion: what moving, turning in the picture and scaling cannot explain), fits
a homography between their tracked points and measures what it leaves (the
planar residual), both as fractions of the face's size:

- a planar residual above ``three_d_residual`` is a vote for a solid head
  (the face mesh puts a tilted photo's points off a plane by a few per cent of
  the face, because it expects a 3D face; a real head turning reaches far more);
- enough motion (``min_motion``, and ``min_motion_pixels`` in pixels) with a
  planar residual below ``flat_ratio`` of it is a vote for a flat picture: a
  plane explains most of the motion. Only frames of about the same size
  (``max_pair_scale``) may say so: as a head comes closer, its perspective and
  the mesh's detail change in ways a plane nearly explains;
- anything else says nothing yet.

``three_d_votes`` solid votes (more than flat ones) decide ``three_d``;
``flat_votes`` flat votes without a single solid one decide ``flat``; until then,
``undecided`` (a face that only comes closer or holds still proves nothing).
A decision holds for the rest of the visit. Frames are compared only within
one track: a face that jumps (``max_step``, ``max_scale_step``) from one frame
to the next is another face, or a mesh gone wrong, and starts a new track
(the votes so far stay: they are the visit's).

The mesh bends a little with every change of its crop, so the meshes should come
from :meth:`FaceMesh.follow <kiosk.face_mesh.FaceMesh.follow>` (each frame cropped
where the last mesh was) rather than from a new detection's box every frame,
whose jitter looks like the small motion of a flat picture. The defaults were
measured on the synthetic scenes of ``tests/spoof_scenes.py`` (LFW DevTrain
people; the tests report DevTest people).

**Blinks**, a second and optional cue: the eye aspect ratio (EAR, Soukupová and
Čech 2016) from MediaPipe's six points round each eye; a blink is the EAR
falling below ``closed_fraction`` of the visit's open-eye EAR and coming back
above ``reopened_fraction`` of it within ``max_blink_seconds``. A video replay
blinks too, so a blink alone never proves a live person.

Pure functions over a frozen state, as :mod:`kiosk.visits`: the caller starts a
:class:`LivenessState` per visit and calls :func:`step` with each frame's mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from kiosk.face_mesh import FaceMeshResult

FLAT = "flat"
THREE_D = "three_d"
UNDECIDED = "undecided"

# Mesh points the face mesh places well on a tilted photo as on a head: nose tip, under the
# nose and its bridge, eye corners, mouth corners and lips, chin, forehead, cheeks, brows.
# The face's outline is left out: the model guesses it from its idea of a head, even on a
# flat picture, so it would look solid whatever it is.
TRACKED = (1, 2, 168, 6, 33, 133, 362, 263, 61, 291, 0, 17, 152, 10, 50, 280, 205, 425, 70, 105, 300, 334)
# MediaPipe's six points of each eye for the EAR: outer corner, two on the upper lid, inner
# corner, two on the lower lid (p1..p6 of Soukupová and Čech).
RIGHT_EYE = (33, 160, 158, 133, 153, 144)  # the person's right eye, on the image's left
LEFT_EYE = (362, 385, 387, 263, 373, 380)


@dataclass(frozen=True)
class LivenessSettings:
    """The thresholds of both cues; distances are fractions of the face's size (the
    RMS distance of the tracked points from their centre, about 0.37 face widths)."""

    history_seconds: float = 2.0  # how far back a frame is compared with
    max_step: float = 1.0  # the face's centre moving further than its size in one frame: another face
    max_scale_step: float = 1.4  # or growing or shrinking by more than this factor in one frame
    max_pair_scale: float = 1.5  # frames that vote flat differ in size by at most this factor
    min_face_score: float = 0.5  # meshes the model doubts are a face are skipped
    min_motion: float = 0.03  # motion beyond a similarity before a pair can vote flat
    min_motion_pixels: float = 1.5  # and in pixels (RMS): a still face's mesh flickers by a pixel or so
    three_d_residual: float = 0.10  # planar residual only a solid head reaches
    flat_ratio: float = 0.5  # planar residual under this fraction of the motion: a flat vote
    three_d_votes: int = 2
    flat_votes: int = 3
    closed_fraction: float = 0.6  # EAR below this fraction of the open-eye EAR: eyes closed
    reopened_fraction: float = 0.85  # and back above this fraction: open again
    max_blink_seconds: float = 0.6  # eyes closed longer are not a blink (looking down, sleeping)
    open_frames: int = 3  # frames of open eyes before closing counts
    open_smoothing: float = 0.2  # weight of each new open-eye frame in the open-eye EAR


@dataclass(frozen=True)
class PairMeasure:
    """Two frames' tracked points compared: ``motion``, what a similarity leaves;
    ``planar``, what a homography leaves; both as fractions of the face's
    ``size`` (pixels) in the newer frame."""

    motion: float
    planar: float
    size: float


@dataclass(frozen=True)
class Blinks:
    """The blink cue's state: the open-eye EAR, whether the eyes are closed now, the blinks."""

    open_ear: float | None = None
    open_frames: int = 0
    closed_since: float | None = None
    count: int = 0


@dataclass(frozen=True)
class LivenessState:
    """One visit's evidence: recent frames' tracked points, the votes, the verdict, the blinks."""

    history: tuple[tuple[float, np.ndarray], ...] = ()
    three_d: int = 0
    flat: int = 0
    verdict: str = UNDECIDED
    blinks: Blinks = field(default_factory=Blinks)


def tracked_points(points: np.ndarray) -> np.ndarray:
    """The (len(TRACKED), 2) image points the flatness test follows."""
    return np.asarray(points, dtype=np.float64)[list(TRACKED), :2]


def face_size(xy: np.ndarray) -> float:
    """RMS distance of the points from their centre."""
    return float(np.sqrt(((xy - xy.mean(0)) ** 2).sum(1).mean()))


def similarity_residuals(olds: np.ndarray, new: np.ndarray) -> np.ndarray:
    """RMS residual of the best similarity (rotation, scale, shift) from each of
    ``olds`` (K, N, 2) onto ``new`` (N, 2), over ``new``'s size. In complex
    numbers the fit is one ratio, so all K are fitted at once."""
    a = olds[..., 0] + 1j * olds[..., 1]
    b = new[:, 0] + 1j * new[:, 1]
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean()
    scale_rotation = (np.conj(a) * b).sum(-1) / np.maximum((np.abs(a) ** 2).sum(-1), np.finfo(float).tiny)
    left = np.abs(b[None, :] - scale_rotation[:, None] * a) ** 2
    return np.sqrt(left.mean(-1)) / max(face_size(new), np.finfo(float).tiny)


def planar_residual(old: np.ndarray, new: np.ndarray) -> float | None:
    """RMS residual of the least-squares homography from ``old`` onto ``new``,
    over ``new``'s size; None when no homography fits (degenerate points)."""
    matrix, _ = cv2.findHomography(old.astype(np.float64), new.astype(np.float64), 0)
    if matrix is None:
        return None
    mapped = np.hstack([old, np.ones((len(old), 1))]) @ matrix.T
    if np.any(np.abs(mapped[:, 2]) < np.finfo(float).eps):
        return None
    left = mapped[:, :2] / mapped[:, 2:] - new
    return float(np.sqrt((left**2).sum(1).mean())) / max(face_size(new), np.finfo(float).tiny)


def measure_pair(old: np.ndarray, new: np.ndarray) -> PairMeasure | None:
    """Motion and planar residual between two frames' tracked points."""
    planar = planar_residual(old, new)
    if planar is None:
        return None
    return PairMeasure(float(similarity_residuals(old[None], new)[0]), planar, face_size(new))


def vote(measure: PairMeasure | None, settings: LivenessSettings) -> str | None:
    """What one pair of frames says: THREE_D, FLAT or nothing (None)."""
    if measure is None:
        return None
    if measure.planar >= settings.three_d_residual:
        return THREE_D
    moved = measure.motion >= settings.min_motion and measure.motion * measure.size >= settings.min_motion_pixels
    if moved and measure.planar <= settings.flat_ratio * measure.motion:
        return FLAT
    return None


def decide(three_d: int, flat: int, settings: LivenessSettings) -> str:
    """The visit's verdict from its votes."""
    if three_d >= settings.three_d_votes and three_d > flat:
        return THREE_D
    if flat >= settings.flat_votes and three_d == 0:
        return FLAT
    return UNDECIDED


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean EAR of both eyes: the lids' two openings over twice the eye's width."""
    points = np.asarray(points, dtype=np.float64)[:, :2]
    ratios = []
    for p1, p2, p3, p4, p5, p6 in (RIGHT_EYE, LEFT_EYE):
        width = np.linalg.norm(points[p1] - points[p4])
        opening = np.linalg.norm(points[p2] - points[p6]) + np.linalg.norm(points[p3] - points[p5])
        ratios.append(opening / (2 * width) if width > 0 else 0.0)
    return float(np.mean(ratios))


def blink_step(blinks: Blinks, ear: float, now: float, settings: LivenessSettings) -> Blinks:
    """The blink state after a frame with eye aspect ratio ``ear`` at ``now``."""
    if blinks.open_ear is None:
        return Blinks(open_ear=ear, open_frames=1)
    if blinks.closed_since is not None:
        if ear >= settings.reopened_fraction * blinks.open_ear:
            quick = now - blinks.closed_since <= settings.max_blink_seconds
            return replace(blinks, closed_since=None, count=blinks.count + quick, open_frames=1)
        return blinks
    if ear < settings.closed_fraction * blinks.open_ear and blinks.open_frames >= settings.open_frames:
        return replace(blinks, closed_since=now)
    # Open (or not yet known well enough to call anything closed): follow the open-eye EAR.
    weight = settings.open_smoothing
    return replace(blinks, open_ear=(1 - weight) * blinks.open_ear + weight * ear, open_frames=blinks.open_frames + 1)


def jumped(last: np.ndarray, new: np.ndarray, settings: LivenessSettings) -> bool:
    """Whether ``new`` cannot be the face of ``last`` one frame later."""
    size_last, size_new = face_size(last), face_size(new)
    if min(size_last, size_new) <= 0:
        return True
    shift = float(np.linalg.norm(new.mean(0) - last.mean(0))) / size_last
    return shift > settings.max_step or max(size_new / size_last, size_last / size_new) > settings.max_scale_step


def step(
    state: LivenessState, mesh: FaceMeshResult | None, now: float, settings: LivenessSettings = LivenessSettings()
) -> LivenessState:
    """The visit's liveness after one frame's mesh (None: no face) seen at ``now`` (monotonic seconds)."""
    if mesh is None or mesh.score < settings.min_face_score:
        return state
    new = tracked_points(mesh.points)
    new.setflags(write=False)  # kept in a frozen state
    history = tuple((t, xy) for t, xy in state.history if now - t <= settings.history_seconds)
    if history and jumped(history[-1][1], new, settings):
        history = ()
    three_d, flat = state.three_d, state.flat
    if history and state.verdict == UNDECIDED:
        olds = np.stack([xy for _, xy in history])
        residuals = similarity_residuals(olds, new)
        # The most different recent frame says the most; nearer ones only repeat it more faintly.
        said = vote(measure_pair(olds[int(np.argmax(residuals))], new), settings)
        if said != THREE_D:
            # Coming closer changes the perspective and the mesh's detail without a turn, in ways a
            # plane nearly explains: only frames of about the same size may say flat.
            sizes = np.sqrt(((olds - olds.mean(1, keepdims=True)) ** 2).sum(2).mean(1))
            alike = np.maximum(sizes / face_size(new), face_size(new) / sizes) <= settings.max_pair_scale
            said = vote(measure_pair(olds[int(np.argmax(np.where(alike, residuals, -np.inf)))], new), settings)
            said = said if alike.any() and said == FLAT else None
        three_d += said == THREE_D
        flat += said == FLAT
    verdict = state.verdict if state.verdict != UNDECIDED else decide(three_d, flat, settings)
    blinks = blink_step(state.blinks, eye_aspect_ratio(mesh.points), now, settings)
    return LivenessState(history + ((now, new),), three_d, flat, verdict, blinks)


# What the door does with a visit's welcome, once the liveness rules have had their say.
LIVE = "live"  # welcome them
SPOOF = "spoof"  # a photo or a screen: refuse, never punch
WAIT = "wait"  # not yet: keep watching
TIMED_OUT = "timed_out"  # challenge: not done in time

TURN_LEFT, TURN_RIGHT, BLINK = "left", "right", "blink"  # the person's own left and right
CHALLENGES = (TURN_LEFT, TURN_RIGHT, BLINK)


@dataclass(frozen=True)
class DoorSettings:
    """How the door uses the cues (``[liveness]`` in the config; see its comments)."""

    mode: str = "passive"  # off | passive | challenge
    spoof_threshold: float = 0.5  # the detector's mean probability of a real face below this: a spoof
    wait_seconds: float = 0.5  # a welcome waits this long for the movement to decide before the detector does
    challenge_seconds: float = 5.0
    turn: float = 0.2  # a head turn asked for: the yaw must move this far (in eye distances) that way


@dataclass(frozen=True)
class Challenge:
    """What the screen asked for at ``asked_at``, and the head and blinks as they were then."""

    kind: str  # TURN_LEFT, TURN_RIGHT or BLINK
    asked_at: float
    yaw: float | None
    blinks: int


def yaw_of(points: np.ndarray) -> float:
    """How far the nose tip stands to the side of the eyes' midpoint, in eye distances,
    as the camera sees it: positive when the nose is to the image's right, which is
    the person's own left (the camera faces them)."""
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    right_eye, left_eye = xy[[RIGHT_EYE[0], RIGHT_EYE[3]]].mean(0), xy[[LEFT_EYE[0], LEFT_EYE[3]]].mean(0)
    across = left_eye - right_eye
    distance = float(np.linalg.norm(across))
    if distance <= 0:
        return 0.0
    return float(np.dot(xy[1] - (left_eye + right_eye) / 2, across / distance)) / distance


def challenge_done(challenge: Challenge, yaw: float | None, blinks: int, settings: DoorSettings) -> bool:
    """Whether the head or the eyes have done what ``challenge`` asked."""
    if challenge.kind == BLINK:
        return blinks > challenge.blinks
    if yaw is None or challenge.yaw is None:
        return False
    turned = yaw - challenge.yaw
    return turned >= settings.turn if challenge.kind == TURN_LEFT else -turned >= settings.turn


def passive_verdict(geometry: str, real: float | None, waited: float, settings: DoorSettings) -> str:
    """A pending welcome's fate without a challenge: the head's movement decides when it has
    (a flat picture is refused, a solid head welcomed); otherwise, after ``wait_seconds``, the
    detector's mean ``real`` probability over the visit's faces (None: it has seen none yet)."""
    if geometry == FLAT:
        return SPOOF
    if geometry == THREE_D:
        return LIVE
    if waited < settings.wait_seconds or real is None:
        return WAIT
    return LIVE if real >= settings.spoof_threshold else SPOOF


def challenged_verdict(
    geometry: str, real: float | None, challenge: Challenge, yaw: float | None, blinks: int, now: float, settings: DoorSettings
) -> str:
    """A pending welcome's fate in challenge mode: a flat picture is refused at once; the
    challenge done, the passive rules decide as if their wait were over; not done within
    ``challenge_seconds``, nobody is welcomed."""
    if geometry == FLAT:
        return SPOOF
    if challenge_done(challenge, yaw, blinks, settings):
        verdict = passive_verdict(geometry, real, settings.wait_seconds, settings)
        if verdict != WAIT:
            return verdict
    return TIMED_OUT if now - challenge.asked_at > settings.challenge_seconds else WAIT
