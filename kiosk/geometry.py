"""The least-squares similarity between two point sets (Umeyama 1991): the
one fit that both the aligner and the landmark cascade use."""

from __future__ import annotations

import numpy as np


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rotation-and-uniform-scale matrix (2x2) and translation mapping
    ``src`` points onto ``dst``, computed in the points' own precision."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    var_src = (src_c**2).sum() / len(src)
    if var_src == 0:
        raise ValueError("source points are all identical")
    linear = (s * d).sum() / var_src * (u @ np.diag(d) @ vt)
    return linear, dst_mean - linear @ src_mean
