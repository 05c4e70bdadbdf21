"""``trainer prepare``: a folder in LFW layout (Person/img.jpg) -> a compact
cache of aligned face crops, made with the kiosk's own detector and aligner so
training sees exactly the crops the kiosk will see."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from kiosk.alignment import Aligner
from kiosk.detection import Detector

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class FaceCache:
    """Aligned RGB crops with the relative path and person of each, and the
    alignment that made them (a name from the model contract)."""

    crops: np.ndarray  # (N, S, S, 3) uint8 RGB
    paths: np.ndarray  # (N,) str, relative to the images folder
    people: np.ndarray  # (N,) str
    alignment: str = "arcface112"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, crops=self.crops, paths=self.paths, people=self.people, alignment=np.array(self.alignment))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> FaceCache:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no face cache here; run 'trainer prepare' first")
        with np.load(path) as data:
            # Caches from before alignments had names were all arcface112.
            alignment = str(data["alignment"]) if "alignment" in data else "arcface112"
            return cls(data["crops"], data["paths"].astype(str), data["people"].astype(str), alignment)

    @property
    def size(self) -> int:
        return int(self.crops.shape[1])

    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.paths)}


def list_images(images: Path) -> list[Path]:
    if not images.is_dir():
        raise FileNotFoundError(f"{images}: not a folder")
    files = sorted(p for p in images.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{images}: no images found in Person/image layout")
    return files


def central_face(detections, shape):
    """The face nearest the image centre: datasets like LFW centre the subject."""
    centre = np.array([shape[1], shape[0]], dtype=np.float32) / 2
    return min(detections, key=lambda d: float(np.linalg.norm(d.box.reshape(2, 2).mean(0) - centre)))


def central_crop(detector: Detector, aligner: Aligner, image_bgr: np.ndarray) -> np.ndarray | None:
    """Aligned RGB crop of the most central face, or None when no face is found."""
    detections = detector.detect(image_bgr, bgr=True)
    if not detections:
        return None
    return aligner.align(image_bgr, central_face(detections, image_bgr.shape))


def prepare(images: Path, detector: Detector, aligner: Aligner, progress: bool = True) -> tuple[FaceCache, list[str]]:
    files = list_images(images)
    crops, paths, people, failed = [], [], [], []
    for file in tqdm(files, desc="detect+align", unit="img", disable=None if progress else True):
        rel = file.relative_to(images).as_posix()
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            failed.append(f"{rel}\tunreadable image")
            continue
        crop = central_crop(detector, aligner, image)
        if crop is None:
            failed.append(f"{rel}\tno face found")
            continue
        crops.append(crop)
        paths.append(rel)
        people.append(file.parent.name)
    size = aligner.size
    cache = FaceCache(
        np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8), np.array(paths), np.array(people), aligner.name
    )
    return cache, failed


def write_prepare_outputs(out: Path, cache: FaceCache, failed: list[str], config: dict) -> None:
    cache.save(out)
    out.with_suffix(".failed.txt").write_text("".join(line + "\n" for line in failed))
    out.with_suffix(".config.json").write_text(json.dumps(config, indent=2) + "\n")
    log.info(
        "%d faces cached in %s, %d images skipped (listed in %s)",
        len(cache.paths),
        out,
        len(failed),
        out.with_suffix(".failed.txt"),
    )
