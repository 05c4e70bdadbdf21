"""Training data: identity splits, teacher descriptors, augmentation and
P x K batches for the metric losses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import keras
import numpy as np

from trainer.lfw import Pair, read_people
from trainer.prepare import FaceCache

PIXEL_MEAN = 127.5
PIXEL_STD = 128.0


def normalise(crops: np.ndarray) -> np.ndarray:
    """uint8 RGB crops -> the model's float input (the sidecar records these numbers)."""
    return (crops.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD


def holdout_person(name: str, fraction: float) -> bool:
    """Stable assignment of a person to the calibration hold-out, independent of ordering."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split_rows(cache: FaceCache, train_people: str | Path, holdout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Cache rows of the people that may be trained on, and of those among
    them held out for validation and calibration."""
    allowed = read_people(train_people)
    in_train_file = np.isin(cache.people, list(allowed))
    held = np.array([holdout_person(p, holdout_fraction) for p in cache.people], dtype=bool)
    return np.flatnonzero(in_train_file & ~held), np.flatnonzero(in_train_file & held)


def load_teacher(path: str | Path, paths: np.ndarray, excluded_people: set[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit teacher descriptors (original, mirrored) aligned with ``paths``,
    and the centre they were moved by.

    dlib's descriptors all sit in a narrow cone (strangers are ~0.17 apart in
    cosine distance), so they are centred on the training people's mean first:
    that spreads them over the sphere (strangers ~1.0 apart), which suits the
    triplet margin and int8 outputs. Rows of excluded people are zeroed so
    they cannot leak into training."""
    with np.load(path) as data:
        lookup = {p: i for i, p in enumerate(data["paths"].astype(str))}
        rows = np.array([lookup[p] for p in paths])
        original = data["embedding"][rows].astype(np.float32)
        mirrored = data["embedding_mirrored"][rows].astype(np.float32)
    people = np.array([p.split("/")[0] for p in paths])
    mask = np.isin(people, list(excluded_people))
    centre = np.concatenate([original[~mask], mirrored[~mask]]).mean(axis=0)
    original, mirrored = centred(original, centre), centred(mirrored, centre)
    original[mask] = 0
    mirrored[mask] = 0
    return original, mirrored, centre


def centred(descriptors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Teacher descriptors moved by ``centre`` and scaled to unit length."""
    moved = descriptors.astype(np.float32) - centre
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def make_pairs(cache: FaceCache, rows: np.ndarray, n_pairs: int, rng: np.random.Generator) -> list[Pair]:
    """Balanced match / mismatch pairs among ``rows`` of the cache, for calibration."""
    by_person: dict[str, list[int]] = {}
    for r in rows:
        by_person.setdefault(cache.people[r], []).append(int(r))
    multi = [v for v in by_person.values() if len(v) > 1]
    pairs = []
    for _ in range(n_pairs // 2):
        imgs = multi[rng.integers(len(multi))]
        a, b = rng.choice(len(imgs), 2, replace=False)
        pairs.append(Pair(cache.paths[imgs[a]], cache.paths[imgs[b]], True, 0))
    names = list(by_person)
    for _ in range(n_pairs - n_pairs // 2):
        p, q = rng.choice(len(names), 2, replace=False)
        a = by_person[names[p]][rng.integers(len(by_person[names[p]]))]
        b = by_person[names[q]][rng.integers(len(by_person[names[q]]))]
        pairs.append(Pair(cache.paths[a], cache.paths[b], False, 0))
    return pairs


def augment(crop: np.ndarray, rng: np.random.Generator, photometric: bool = True) -> tuple[np.ndarray, bool]:
    """Photometric and small geometric jitter of one aligned RGB crop; returns
    the new crop and whether it was mirrored (the teacher has a mirrored descriptor)."""
    size = crop.shape[0]
    flipped = bool(rng.random() < 0.5)
    if flipped:
        crop = crop[:, ::-1]
    angle = rng.uniform(-8, 8)
    scale = rng.uniform(0.93, 1.07)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-0.04, 0.04, 2) * size
    img = cv2.warpAffine(
        np.ascontiguousarray(crop), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if not photometric:
        return img, flipped
    img = img.astype(np.float32)
    if rng.random() < 0.2:
        low = int(size * rng.uniform(0.45, 0.8))
        img = cv2.resize(cv2.resize(img, (low, low), interpolation=cv2.INTER_AREA), (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.1))
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.6, 1.3)
    img = (img - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-25, 25)
    return np.clip(img, 0, 255).astype(np.uint8), flipped


class TripletBatches(keras.utils.PyDataset):
    """P identities x K images per batch (so every anchor has positives),
    filled up with single images, or with teacher-labelled new faces
    (``extra``: crops and unit targets, see ``trainer teach``) which count
    as identities of their own; ``y = [teacher descriptor | label]``."""

    def __init__(
        self,
        crops,
        labels,
        teacher,
        teacher_mirrored,
        *,
        batch_size=128,
        k=4,
        steps=None,
        seed=0,
        augment_images=True,
        extra=None,
        extra_fraction=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.crops, self.labels = crops, labels
        self.teacher, self.teacher_mirrored = teacher, teacher_mirrored
        self.batch_size, self.k = batch_size, k
        self.steps = steps or max(1, len(crops) // batch_size)
        self.seed = seed
        self.augment_images = augment_images
        self.extra = extra
        self.n_extra = int(round(batch_size * extra_fraction)) if extra is not None else 0
        self.epoch = 0
        by_label: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            by_label.setdefault(int(label), []).append(i)
        self.groups = [np.array(v) for v in by_label.values() if len(v) > 1]

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, self.epoch, index))
        n_real = self.batch_size - self.n_extra
        rows = []
        for g in rng.choice(len(self.groups), n_real // (2 * self.k), replace=False):
            group = self.groups[g]
            rows.extend(rng.choice(group, self.k, replace=len(group) < self.k))
        rows.extend(rng.integers(0, len(self.crops), n_real - len(rows)))
        rows = np.array(rows)
        images = np.empty((self.batch_size,) + self.crops.shape[1:], np.uint8)
        targets = np.empty((self.batch_size, self.teacher.shape[1]), np.float32)
        labels = np.empty(self.batch_size, np.float32)
        for j, r in enumerate(rows):
            if self.augment_images:
                images[j], flipped = augment(self.crops[r], rng)
            else:
                images[j], flipped = self.crops[r], False
            targets[j] = self.teacher_mirrored[r] if flipped else self.teacher[r]
            labels[j] = self.labels[r]
        if self.n_extra:
            extra_crops, extra_targets = self.extra
            for j, r in enumerate(rng.integers(0, len(extra_crops), self.n_extra), start=n_real):
                # already colour-changed with the teacher watching: only geometric jitter here
                images[j] = augment(extra_crops[r], rng, photometric=False)[0] if self.augment_images else extra_crops[r]
                targets[j] = extra_targets[r]  # mirrored blends keep the target (dlib: cosine 0.99)
                labels[j] = -1.0 - r  # a new face is nobody else
        y = np.concatenate([targets, labels[:, None]], axis=1)
        return normalise(images), y
