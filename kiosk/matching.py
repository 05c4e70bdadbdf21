"""Gallery matching: pure numpy over L2-normalised embeddings.

The one distance measure, end to end (training losses, calibration, kiosk):
cosine distance ``1 - a.b`` of unit vectors, 0 = identical, 2 = opposite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


def cosine_distance(gallery: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Distances from one query (D,) to every gallery row (N, D); both unit length."""
    return 1.0 - gallery @ query


@dataclass(frozen=True)
class Match:
    index: int  # row in the gallery
    distance: float
    second_distance: float  # to the next-best row; inf with a one-person gallery

    @property
    def margin(self) -> float:
        return self.second_distance - self.distance

    def accepted(self, threshold: float, min_margin: float = 0.0) -> bool:
        """Close enough to its best match and clearly closer to it than to anyone else."""
        return self.distance <= threshold and self.margin >= min_margin


def nearest_per_person(rows: np.ndarray, starts: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Each person's distance to ``query``: to the nearest of their rows, with
    the rows grouped by person and ``starts`` the first row of each."""
    return np.minimum.reduceat(cosine_distance(rows, query), starts)


def best_match(gallery: np.ndarray, query: np.ndarray) -> Match | None:
    """Nearest gallery row and its margin to the runner-up; None for an empty gallery."""
    return nearest_of(cosine_distance(gallery, query)) if len(gallery) else None


def nearest_of(d: np.ndarray) -> Match | None:
    """The smallest of ``d`` (one distance per person) and its margin to the runner-up."""
    n = len(d)
    if n == 0:
        return None
    if n == 1:
        return Match(0, float(d[0]), float("inf"))
    two = np.argpartition(d, 1)[:2]
    first, second = (two[0], two[1]) if d[two[0]] <= d[two[1]] else (two[1], two[0])
    return Match(int(first), float(d[first]), float(d[second]))


def best_matches(gallery: np.ndarray, queries: np.ndarray) -> list[Match | None]:
    """:func:`best_match` for a batch of queries (Q, D) with one matrix product."""
    if len(gallery) == 0:
        return [None] * len(queries)
    d = 1.0 - queries @ gallery.T
    if len(gallery) == 1:
        return [Match(0, float(row[0]), float("inf")) for row in d]
    two = np.argpartition(d, 1, axis=1)[:, :2]
    rows = np.arange(len(d))[:, None]
    pair = d[rows, two]
    order = np.argsort(pair, axis=1)
    two, pair = np.take_along_axis(two, order, 1), np.take_along_axis(pair, order, 1)
    return [Match(int(i[0]), float(p[0]), float(p[1])) for i, p in zip(two, pair, strict=True)]


def effective_comparisons(people: int, pictures: int, extra_picture_weight: float) -> float:
    """How many independent comparisons a stranger's face gets against ``people`` people with
    ``pictures`` pictures between them: the first picture of each person counts fully, each
    further one ``extra_picture_weight`` (the sidecar's measure of how alike one face's pictures are)."""
    return people + extra_picture_weight * max(pictures - people, 0)


def gallery_threshold(far_thresholds: dict[float, float], gallery_size: float, stranger_rate: float) -> float:
    """The distance threshold at which a stranger, compared with everyone in a
    gallery of ``gallery_size`` people, is accepted as someone with a chance of
    about ``stranger_rate``: each comparison may then false-accept at
    ``stranger_rate / N`` (the union bound). ``far_thresholds`` maps pair
    false-accept rates to thresholds (the sidecar's table); between its rates
    the threshold is interpolated in log rate, and beyond its smallest rate it
    is extrapolated by at most one decade, then held."""
    if not far_thresholds:
        raise ValueError("no false-accept table to choose a threshold from")
    if not 0 < stranger_rate < 1:
        raise ValueError(f"stranger_rate must lie between 0 and 1, got {stranger_rate}")
    rates = np.log10(np.array(sorted(far_thresholds)))
    thresholds = np.array([far_thresholds[f] for f in sorted(far_thresholds)])
    wanted = np.log10(min(stranger_rate / max(gallery_size, 1), 1.0))
    if len(rates) == 1:
        return float(thresholds[0])
    if wanted >= rates[0]:
        return float(np.interp(wanted, rates, thresholds))
    slope = (thresholds[1] - thresholds[0]) / (rates[1] - rates[0])
    return float(thresholds[0] + slope * (max(wanted, rates[0] - 1.0) - rates[0]))
