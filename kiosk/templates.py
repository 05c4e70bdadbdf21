"""The rules for templates learnt at the door: pure functions over
distances and embeddings, tested on hand-made inputs.

A welcome teaches the kiosk a new picture of a person only when it was
confident (inside the threshold, with nobody else within it, and a good
face among the evidence), and only when the new picture also matches the
person's enrolment photo and nobody else's picture, so templates can never
drift away from them or towards a colleague. Each
person keeps at most a few templates: the most varied, because a template
like one already kept adds nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.detection import Detection
from kiosk.matching import cosine_distance


def confident(distance: float, margin: float, threshold: float, within: float, clear_by: float) -> bool:
    """A welcome sure enough to learn from: ``distance`` at most ``within`` of
    the threshold, the runner-up at least ``clear_by`` of it further away, and
    beyond the threshold itself, so that nobody else could have been named."""
    return distance <= within * threshold and margin >= clear_by * threshold and distance + margin > threshold


def anchored(candidate: np.ndarray, reference: np.ndarray, threshold: float) -> bool:
    """The candidate still matches the enrolment photo on its own."""
    return float(cosine_distance(reference[None, :], candidate)[0]) <= threshold


def most_varied(reference: np.ndarray, templates: np.ndarray, keep: int) -> list[int]:
    """Which of ``templates`` (rows) to keep, at most ``keep``: drop, one at a
    time, the template nearest to another picture of the person (the
    enrolment photo included, which is never dropped). Indices in order."""
    kept = list(range(len(templates)))
    if len(kept) <= keep:
        return kept
    pictures = np.vstack([reference[None, :], templates]).astype(np.float32)
    distance = 1.0 - pictures @ pictures.T
    np.fill_diagonal(distance, np.inf)
    while len(kept) > keep:
        rows = [i + 1 for i in kept]  # template i is picture i + 1
        alive = [0, *rows]
        nearest = [distance[r, alive].min() for r in rows]
        kept.pop(int(np.argmin(nearest)))
    return kept


@dataclass(frozen=True)
class BestFace:
    """The visit's best usable face so far: its frame and where the face is."""

    frame: np.ndarray
    face: Detection
    good: bool

    def beats(self, other: BestFace | None) -> bool:
        """Good beats fair, then the larger face (nearer the camera, more detail)."""
        if other is None or self.good != other.good:
            return other is None or self.good
        return _width(self.face) > _width(other.face)


def _width(face: Detection) -> float:
    return float(face.box[2] - face.box[0])
