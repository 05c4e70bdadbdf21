"""Precise facial landmarks on a BlazeFace detection, for models trained on
dlib's face chips (BlazeFace's six keypoints are too coarse for them).

dlib's own 5-point model (eye corners and the point under the nose; a
cascade of regression trees, CC0 1.0) is converted to arrays by ``trainer
convert-landmarks`` and run here in numpy, started in the box where dlib's
face detector would have put the face. No dlib at run time.

(MediaPipe's 468-point face mesh was measured as the other source of these
points: equal on one-photo identification, 98.2% against 98.5% on LFW
pairsDevTest with the same int8 network; see the recogniser issue's notes.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kiosk.detection import Detection
from kiosk.geometry import similarity_fit
from kiosk.inference import InferenceError

MODEL_FILE = Path(__file__).parent / "models" / "dlib_5_point_landmarks.npz"


def default_model_path() -> Path:
    return MODEL_FILE


# dlib's face box from BlazeFace's: its centre in eye distances from the eyes'
# midpoint (along and across the eye line), its side in BlazeFace box widths.
# Fitted on LFW DevTrain faces both detectors found (full-range BlazeFace, the kiosk default) ('trainer fit-landmark-box').
DLIB_BOX_CENTRE_FROM_EYES = (-0.0772, 0.4424)
DLIB_BOX_SIDE_PER_BOX_WIDTH = 0.9424


def dlib_face_square(face: Detection) -> np.ndarray:
    """2x3 map from dlib's unit face square onto the frame, where dlib's HOG
    detector would have put its box, turned with the eye line."""
    left_eye, right_eye = face.keypoints[0].astype(np.float64), face.keypoints[1].astype(np.float64)
    along = right_eye - left_eye
    eye_distance = max(float(np.linalg.norm(along)), 1e-6)
    along /= eye_distance
    across = np.array([-along[1], along[0]])
    a, b = DLIB_BOX_CENTRE_FROM_EYES
    centre = (left_eye + right_eye) / 2 + eye_distance * (a * along + b * across)
    side = DLIB_BOX_SIDE_PER_BOX_WIDTH * float(face.box[2] - face.box[0])
    linear = side * np.stack([along, across], axis=1)
    return np.hstack([linear, (centre - linear @ np.array([0.5, 0.5]))[:, None]])


class DlibLandmarks:
    """dlib's 5-point predictor started where dlib's detector would have boxed the face."""

    def __init__(self, predictor: ShapePredictor):
        self.predictor = predictor

    def five_points(self, frame_bgr: np.ndarray, face: Detection) -> np.ndarray:
        # dlib's intensity of an RGB pixel: the integer mean of the channels
        x1, y1, x2, y2 = face.box
        margin = 0.6 * max(x2 - x1, y2 - y1)
        h, w = frame_bgr.shape[:2]
        left, top = max(0, int(x1 - margin)), max(0, int(y1 - margin))
        right, bottom = min(w, int(x2 + margin) + 1), min(h, int(y2 + margin) + 1)
        region = frame_bgr[top:bottom, left:right].astype(np.uint16)
        grey = (region.sum(axis=2) // 3).astype(np.uint8)
        square = dlib_face_square(face)
        square[:, 2] -= (left, top)
        return self.predictor.points(grey, square) + (left, top)


class ShapePredictor:
    """dlib's ``shape_predictor`` in numpy: ``points(grey, to_image)`` runs the
    cascade in a face square given by ``to_image``, the 2x3 map from the unit
    square (dlib's normalised face box) into the image, and returns the
    landmarks in image pixels. Feature pixels are sampled at the nearest pixel,
    as dlib does, so on dlib's own face box the result is dlib's."""

    def __init__(self, arrays: dict[str, np.ndarray], path: Path | None = None):
        self.initial = arrays["initial_shape"].astype(np.float32)
        levels, trees, splits = arrays["split_idx1"].shape
        leaves = arrays["leaves"].shape[2]
        # Flat per-level tables: tree t's node n is entry t * splits + n, its leaf l entry t * leaves + l.
        self.idx1 = arrays["split_idx1"].reshape(levels, -1)
        self.idx2 = arrays["split_idx2"].reshape(levels, -1)
        self.thresh = arrays["split_thresh"].reshape(levels, -1)
        self.leaves = arrays["leaves"].astype(np.float32).reshape(levels, trees * leaves, -1)
        self.anchors, self.deltas = arrays["anchors"], arrays["deltas"]
        self.path = path
        self.depth = int(np.log2(splits + 1))
        self._node_base = np.arange(trees) * splits
        self._leaf_base = np.arange(trees) * leaves - splits

    @classmethod
    def load(cls, path: str | Path) -> ShapePredictor:
        path = Path(path)
        if not path.is_file():
            raise InferenceError(
                f"{path}: landmark model not found; it ships in kiosk/models (made by 'trainer convert-landmarks')"
            )
        try:
            with np.load(path) as data:
                return cls({k: data[k] for k in data.files}, path)
        except (OSError, ValueError, KeyError) as exc:
            raise InferenceError(f"{path}: not a landmark model ({exc})") from exc

    def points(self, grey: np.ndarray, to_image: np.ndarray) -> np.ndarray:
        height, width = grey.shape[:2]
        linear, offset = to_image[:, :2], to_image[:, 2]
        shape = self.initial.copy()
        flat = grey.reshape(-1)
        for level in range(len(self.anchors)):
            # The reference pixels follow the current shape's rotation and scale.
            tform = similarity_fit(self.initial, shape)[0]
            normalised = self.deltas[level] @ tform.T + shape[self.anchors[level]]
            pixels = np.floor(normalised @ linear.T + offset + 0.5).astype(np.int64)  # dlib rounds to the nearest pixel
            x, y = pixels[:, 0], pixels[:, 1]
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            values = np.where(inside, flat[np.where(inside, y * width + x, 0)], 0).astype(np.float32)
            # Every split of every tree at once (a few thousand comparisons in one go), then each tree's walk
            # down to its leaf only looks its answers up: far fewer numpy calls than testing node by node.
            goes_left = values[self.idx1[level]] - values[self.idx2[level]] > self.thresh[level]
            node = self._node_base
            for _ in range(self.depth):
                node = 2 * node - self._node_base + 2 - goes_left[node]
            shape += (
                np.take(self.leaves[level], node - self._node_base + self._leaf_base, axis=0).sum(axis=0).reshape(shape.shape)
            )
        return shape @ linear.T + offset
