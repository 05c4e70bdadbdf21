"""The liveness of the visit at the door, frame by frame: follows the face with
the face mesh (:mod:`kiosk.face_mesh`) for the geometry and blink rules of
:mod:`kiosk.liveness`, asks the passive spoof detector
(:mod:`kiosk.spoof_detector`) about each usable face, and, in challenge mode,
asks the person for a random head turn or a blink. The rules themselves are
pure functions in :mod:`kiosk.liveness`; this holds one visit's state and the
models, which the composition root loads."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np

from kiosk import liveness
from kiosk.face_mesh import FaceMesh, FaceMeshResult
from kiosk.liveness import Challenge, DoorSettings, LivenessSettings, LivenessState
from kiosk.spoof_detector import SpoofDetector


@dataclass
class _Visit:
    """One visit's evidence."""

    state: LivenessState
    mesh: FaceMeshResult | None = None  # the face followed from the last frame
    real_total: float = 0.0  # the detector's probabilities of a real face, summed ...
    real_count: int = 0  # ... over this many usable faces
    challenge: Challenge | None = None

    @property
    def real(self) -> float | None:
        return self.real_total / self.real_count if self.real_count else None


class LivenessCheck:
    """Watches every frame of a visit and answers, for a welcome the recogniser is
    ready to give, whether the face is live (:data:`kiosk.liveness.LIVE`), a photo
    or screen (``SPOOF``), not yet known (``WAIT``) or, in challenge mode, did not
    do as asked in time (``TIMED_OUT``)."""

    def __init__(self, mesh: FaceMesh, detector: SpoofDetector, door: DoorSettings, rules: LivenessSettings | None = None):
        self.mesh, self.detector, self.door, self.rules = mesh, detector, door, rules or LivenessSettings()
        self.random = random.SystemRandom()  # an attacker must not guess the next challenge
        self.visit = _Visit(LivenessState())

    def reset(self) -> None:
        """A new visit (or none): nothing seen so far counts."""
        self.visit = _Visit(LivenessState())

    def observe(self, frame: np.ndarray, face, usable: bool, now: float) -> float:
        """One frame: ``face`` the detection the gate judged (None: no face), ``usable``
        whether the gate let it through. Returns the seconds it took."""
        start = time.perf_counter()
        visit = self.visit
        if face is None:
            visit.mesh = None
        else:
            followed = visit.mesh is not None and visit.mesh.score >= self.rules.min_face_score and _inside(visit.mesh, face)
            visit.mesh = self.mesh.follow(frame, visit.mesh) if followed else self.mesh.start(frame, face)
            visit.state = liveness.step(visit.state, visit.mesh, now, self.rules)
            if usable and visit.state.verdict == liveness.UNDECIDED:
                visit.real_total += self.detector.check(frame, face.box).real
                visit.real_count += 1
        return time.perf_counter() - start

    @property
    def challenge(self) -> Challenge | None:
        return self.visit.challenge

    def _yaw(self) -> float | None:
        mesh = self.visit.mesh
        return None if mesh is None or mesh.score < self.rules.min_face_score else liveness.yaw_of(mesh.points)

    def verdict(self, waited: float, now: float) -> str:
        """The fate of a welcome that has waited ``waited`` seconds so far."""
        visit, door = self.visit, self.door
        if door.mode != "challenge":
            return liveness.passive_verdict(visit.state.verdict, visit.real, waited, door)
        if visit.challenge is None:
            kind = self.random.choice(liveness.CHALLENGES)
            visit.challenge = Challenge(kind, now, self._yaw(), visit.state.blinks.count)
            if visit.challenge.yaw is None and kind != liveness.BLINK:
                visit.challenge = Challenge(liveness.BLINK, now, None, visit.state.blinks.count)
        return liveness.challenged_verdict(
            visit.state.verdict, visit.real, visit.challenge, self._yaw(), visit.state.blinks.count, now, door
        )


def _inside(mesh: FaceMeshResult, face) -> bool:
    """The followed mesh is still on the face the detector found (not a face that left)."""
    x, y = mesh.points[:, :2].mean(0)
    x1, y1, x2, y2 = face.box
    return bool(x1 <= x <= x2 and y1 <= y <= y2)
