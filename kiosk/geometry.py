"""The least-squares similarity between two point sets (Umeyama 1991): the
one fit that both the aligner and the landmark cascade use."""

from __future__ import annotations

import numpy as np


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rotation-and-uniform-scale matrix (2x2) and translation mapping
    ``src`` points onto ``dst``, computed in the points' own precision.

    In two dimensions Umeyama's least-squares answer has a closed form: with
    both sets centred, the matrix is ``[[a, -b], [b, a]]`` where ``a`` and
    ``b`` are the sums of ``src . dst`` and ``src x dst`` over the variance
    of ``src`` (the same rotation and scale as the SVD route, without the SVD:
    the landmark cascade fits one per level of every face)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    var_src = float((src_c * src_c).sum())
    if var_src == 0:
        raise ValueError("source points are all identical")
    a = float((src_c * dst_c).sum()) / var_src
    b = float((src_c[:, 0] * dst_c[:, 1] - src_c[:, 1] * dst_c[:, 0]).sum()) / var_src
    linear = np.array([[a, -b], [b, a]])
    return linear, dst_mean - linear @ src_mean
