"""Similarity alignment of detected keypoints onto a fixed template.

Pure functions over numpy arrays. The template is the widely used ArcFace
112x112 five-point layout with the two mouth corners merged into the mouth
centre, because BlazeFace gives the mouth centre only.
"""

from __future__ import annotations

import cv2
import numpy as np

TEMPLATE_SIZE = 112
# image-left eye, image-right eye, nose tip, mouth centre (x, y) on a 112x112 crop
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [56.1396, 92.2848]],
    dtype=np.float64,
)


def template(size: int) -> np.ndarray:
    return TEMPLATE_112 * (size / TEMPLATE_SIZE)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping
    ``src`` points onto ``dst`` (Umeyama 1991); returns a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rotation = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / len(src)
    if var_src == 0:
        raise ValueError("source points are all identical")
    scale = (s * d).sum() / var_src
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(image: np.ndarray, keypoints: np.ndarray, size: int) -> np.ndarray:
    """Warp ``image`` so the first four ``keypoints`` land on the template; returns a size x size crop."""
    matrix = estimate_similarity(np.asarray(keypoints)[:4], template(size))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
