"""Verification metrics and threshold calibration: pure numpy over pair
distances (cosine distance, smaller = more alike) and same/different labels."""

from __future__ import annotations

import numpy as np


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray, balanced: bool = False) -> float:
    """The threshold that maximises accuracy, midway between neighbouring
    distances. ``balanced`` maximises the mean of the match and mismatch
    accuracies instead, as if there were as many of each (LFW's pairs files
    are balanced; calibration sets with far more mismatches are not)."""
    same = np.asarray(same, bool)
    order = np.sort(np.unique(distances))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    match, mismatch = np.sort(distances[same]), np.sort(distances[~same])
    accepted = np.searchsorted(match, candidates, side="right")
    rejected = mismatch.size - np.searchsorted(mismatch, candidates, side="right")
    if balanced:
        score = accepted / max(match.size, 1) + rejected / max(mismatch.size, 1)
    else:
        score = accepted + rejected
    return float(candidates[int(np.argmax(score))])


def threshold_for_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """Largest threshold whose false-accept rate on the mismatched pairs is at most ``far``."""
    impostor = np.sort(distances[~same])
    if impostor.size == 0:
        raise ValueError("no mismatched pairs to calibrate on")
    allowed = int(np.floor(far * impostor.size))
    if allowed == 0:
        return float(impostor[0] - 1e-6)
    return float((impostor[allowed - 1] + impostor[allowed]) / 2) if allowed < impostor.size else float(impostor[-1])


def roc_curve(distances: np.ndarray, same: np.ndarray):
    """False-accept and true-accept rates for every threshold, ascending FAR."""
    order = np.argsort(distances, kind="stable")
    s = same[order]
    tar = np.concatenate([[0.0], np.cumsum(s) / max(s.sum(), 1)])
    far = np.concatenate([[0.0], np.cumsum(~s) / max((~s).sum(), 1)])
    return far, tar


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    far, tar = roc_curve(distances, same)
    return float(np.trapezoid(tar, far))


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    threshold = threshold_for_far(distances, same, far)
    return float(np.mean(distances[same] <= threshold))


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[float, float, list[float]]:
    """LFW protocol: each fold is scored at the threshold chosen on the other folds."""
    scores = []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(distances[~test], same[~test])
        scores.append(accuracy_at(distances[test], same[test], threshold))
    return float(np.mean(scores)), float(np.std(scores)), scores


def gallery_far(pair_far: float, gallery_size: int) -> float:
    """Chance that a stranger is accepted as *someone* in a gallery of N people,
    if each comparison is an independent false-accept trial at ``pair_far``."""
    return float(1.0 - (1.0 - pair_far) ** gallery_size)
