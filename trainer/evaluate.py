"""``trainer evaluate``: verification on any LFW-format pairs file, for Keras
weights or an exported ``.tflite``; writes a JSON report and ROC / distance plots."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from kiosk.alignment import Aligner
from kiosk.detection import Detector
from trainer import plots
from trainer.lfw import read_pairs
from trainer.metrics import accuracy_at, best_threshold, kfold_accuracy, roc_auc, roc_curve, tar_at_far
from trainer.prepare import central_crop

log = logging.getLogger(__name__)

UNDETECTED_DISTANCE = 2.0  # a pair with an image where no face was found counts as "different"


@dataclass
class Report:
    data: dict

    def save(self, out: Path, distances: np.ndarray, same: np.ndarray, threshold: float, title: str) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.data, indent=2) + "\n")
        far, tar = roc_curve(distances, same)
        plots.roc_curve(far, tar, out / "roc.png", title)
        plots.distance_histogram(distances[same], distances[~same], threshold, out / "distances.png", title)


def aligned_crops(images: Path, names: list[str], detector: Detector, aligner: Aligner, progress: bool = True):
    """Crops for the named images through the kiosk pipeline; None where no face is found."""
    crops = {}
    for name in tqdm(names, desc="detect+align", unit="img", disable=None if progress else True):
        image = cv2.imread(str(images / name), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{images / name}: image missing or unreadable")
        crops[name] = central_crop(detector, aligner, image)
    return crops


def evaluate(
    pairs_file: Path,
    images: Path,
    embed_one,
    aligner: Aligner,
    detector: Detector,
    threshold: float | None,
    calibration_pairs: Path | None = None,
    progress: bool = True,
) -> tuple[Report, np.ndarray, np.ndarray, float]:
    """``embed_one(crop) -> unit vector``. The accuracy threshold comes from
    ``calibration_pairs`` (best accuracy there), else ``threshold``; a multi-fold
    file uses the LFW protocol (threshold from the other folds) instead."""
    pairs = read_pairs(pairs_file)
    calib = read_pairs(calibration_pairs) if calibration_pairs else []
    names = sorted({p.left for p in pairs + calib} | {p.right for p in pairs + calib})
    crops = aligned_crops(images, names, detector, aligner, progress)
    embeddings = {
        n: embed_one(c)
        for n, c in tqdm(crops.items(), desc="embed", unit="face", disable=None if progress else True)
        if c is not None
    }

    def distances(ps):
        return np.array(
            [
                1.0 - float(embeddings[p.left] @ embeddings[p.right])
                if p.left in embeddings and p.right in embeddings
                else UNDETECTED_DISTANCE
                for p in ps
            ]
        )

    d = distances(pairs)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    data = {
        "pairs_file": pairs_file.name,
        "pairs": len(pairs),
        "images_without_face": sorted(n for n, c in crops.items() if c is None),
        "roc_auc": roc_auc(d, same),
        "tar_at_far_1e-2": tar_at_far(d, same, 1e-2),
        "tar_at_far_1e-3": tar_at_far(d, same, 1e-3),
    }
    if len(np.unique(folds)) > 1:
        mean, std, per_fold = kfold_accuracy(d, same, folds)
        data.update(accuracy=mean, accuracy_std=std, per_fold=per_fold, threshold_source="other nine folds (LFW protocol)")
        threshold = best_threshold(d, same)
    else:
        if calib:
            cs = np.array([p.same for p in calib])
            threshold = best_threshold(distances(calib), cs)
            data["threshold_source"] = f"best accuracy on {calibration_pairs.name}"
        elif threshold is not None:
            data["threshold_source"] = "given (the sidecar's: best balanced accuracy on held-out training people)"
        else:
            raise ValueError("a single-fold pairs file needs --calibration-pairs or a model sidecar with a threshold")
        data.update(accuracy=accuracy_at(d, same, threshold), threshold=threshold)
    return Report(data), d, same, threshold
