"""Similarity alignment of facial landmarks onto a model's template.

Each model names its alignment in its sidecar; this module implements them:

- ``arcface112``: BlazeFace's eyes, nose tip and mouth centre onto the
  widely used ArcFace 112x112 layout (its two mouth corners merged into the
  mouth centre), scaled to the model's input size;
- ``dlib150``: dlib's face chip (``get_face_chip(shape, 150, padding=0.25)``):
  dlib's five points (eye corners, below the nose), from dlib's own landmark
  model run in numpy (:mod:`kiosk.landmarks`), onto dlib's template, with
  dlib's exact chip geometry.
"""

from __future__ import annotations

import time
from typing import Protocol

import cv2
import numpy as np

from kiosk.contract import ALIGNMENTS
from kiosk.detection import Detection
from kiosk.geometry import similarity_fit

TEMPLATE_SIZE = 112
# image-left eye, image-right eye, nose tip, mouth centre (x, y) on a 112x112 crop
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [56.1396, 92.2848]],
    dtype=np.float64,
)

DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25
# dlib's get_face_chip_details: where its 5-point predictor's points go, as a
# fraction of the unpadded face square (dlib/image_transforms/interpolation.h).
DLIB_5POINT_MEAN_FACE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
)


def template(size: int) -> np.ndarray:
    return TEMPLATE_112 * (size / TEMPLATE_SIZE)


def dlib_chip_template(size: int = DLIB_CHIP_SIZE, padding: float = DLIB_CHIP_PADDING) -> np.ndarray:
    """dlib's own 5-point targets in a ``size`` chip with ``padding``."""
    return (padding + DLIB_5POINT_MEAN_FACE) / (2 * padding + 1) * size


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping
    ``src`` points onto ``dst`` (Umeyama 1991); returns a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    linear, translation = similarity_fit(src, dst)
    return np.hstack([linear, translation[:, None]])


def dlib_chip_matrix(points: np.ndarray, chip_points: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 map from the image into a ``size`` chip exactly as dlib's
    ``get_face_chip`` builds it: a least-squares similarity from the chip's
    points onto the image's gives a centre, scale and angle; the chip then
    spans a rectangle of ``size * scale - 1`` image pixels (dlib's inclusive
    rectangle) from its first to its last pixel."""
    chip_to_image = estimate_similarity(chip_points, points)
    linear = chip_to_image[:, :2]
    scale = float(np.hypot(linear[0, 0], linear[1, 0]))
    centre = linear @ np.array([size / 2, size / 2]) + chip_to_image[:, 2]
    step = linear * ((size * scale - 1) / (size - 1) / scale)
    forward = np.hstack([step, (centre - step @ np.array([(size - 1) / 2, (size - 1) / 2]))[:, None]])
    return np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]


def warp(image: np.ndarray, matrix: np.ndarray, size: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """``cv2.warpAffine`` onto a ``size`` square that stays sharp but does not
    alias when the face is much larger than the crop: the region is first
    shrunk with area averaging to about twice the crop's scale (dlib uses an
    image pyramid for the same reason)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
        h, w = image.shape[:2]
        x0, y0 = np.clip(np.floor(corners.min(0)).astype(int) - 2, 0, [w, h])
        x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 2, 0, [w, h])
        if x1 > x0 and y1 > y0:
            shrink = 2 * scale
            region = image[y0:y1, x0:x1]
            small = cv2.resize(
                region, (max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))), interpolation=cv2.INTER_AREA
            )
            sx, sy = small.shape[1] / (x1 - x0), small.shape[0] / (y1 - y0)
            # frame -> region -> shrunk region (pixel centres kept aligned)
            to_small = np.array([[sx, 0, (0.5 * sx - 0.5) - sx * x0], [0, sy, (0.5 * sy - 0.5) - sy * y0], [0, 0, 1]])
            matrix = (np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(to_small))[:2]
            image = small
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)


def align_face(image: np.ndarray, keypoints: np.ndarray, size: int) -> np.ndarray:
    """Warp ``image`` so the first four BlazeFace ``keypoints`` land on the ArcFace template; a size x size crop."""
    return warp(image, estimate_similarity(np.asarray(keypoints)[:4], template(size)), size)


class FivePoints(Protocol):
    """dlib's five landmarks of a detected face."""

    def five_points(self, frame_bgr: np.ndarray, face: Detection) -> np.ndarray: ...


class Aligner(Protocol):
    """Turns a detected face into the model's input crop (RGB, ``size`` square)."""

    name: str
    size: int
    eye_distance: float  # between the eye centres in the crop, in pixels

    def align(self, frame_bgr: np.ndarray, face: Detection, timings: dict | None = None) -> np.ndarray: ...


class ArcfaceAligner:
    """``arcface112``: BlazeFace keypoints onto the ArcFace layout."""

    name = "arcface112"

    def __init__(self, size: int):
        self.size = size
        eyes = template(size)[:2]
        self.eye_distance = float(np.linalg.norm(eyes[1] - eyes[0]))

    def align(self, frame_bgr: np.ndarray, face: Detection, timings: dict | None = None) -> np.ndarray:
        return align_face(frame_bgr, face.keypoints, self.size)[:, :, ::-1].copy()


class Dlib150Aligner:
    """``dlib150``: five precise landmarks onto dlib's face chip."""

    name = "dlib150"

    def __init__(self, landmarks: FivePoints, size: int = DLIB_CHIP_SIZE):
        self.landmarks, self.size = landmarks, size
        self.template = dlib_chip_template(size)
        # eye centres: the middle of each eye's two corners
        self.eye_distance = float(np.linalg.norm(self.template[0:2].mean(0) - self.template[2:4].mean(0)))

    def matrix(self, frame_bgr: np.ndarray, face: Detection) -> np.ndarray:
        return dlib_chip_matrix(self.landmarks.five_points(frame_bgr, face), self.template, self.size)

    def align(self, frame_bgr: np.ndarray, face: Detection, timings: dict | None = None) -> np.ndarray:
        started = time.perf_counter()
        matrix = self.matrix(frame_bgr, face)
        if timings is not None:
            timings["landmarks"] = time.perf_counter() - started
        # dlib fills what lies outside the image with black; so do we, to give the network its own kind of chip.
        return warp(frame_bgr, matrix, self.size, cv2.BORDER_CONSTANT)[:, :, ::-1].copy()


def make_aligner(name: str, size: int, landmarks_factory) -> Aligner:
    """The aligner a model's sidecar asks for; ``landmarks_factory()`` loads
    the landmark model only for the alignments that need one."""
    if name == "arcface112":
        return ArcfaceAligner(size)
    if name == "dlib150":
        return Dlib150Aligner(landmarks_factory(), size)
    raise ValueError(f"unknown alignment {name!r}; choose from {', '.join(ALIGNMENTS)}")
