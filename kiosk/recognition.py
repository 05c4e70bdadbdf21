"""detect -> quality gate -> align -> embed -> match, and the k-of-n vote that
turns per-frame matches into one decision about the person at the kiosk."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from kiosk.alignment import align_face
from kiosk.detection import FaceDetector
from kiosk.embedding import Embedder
from kiosk.matching import Match, best_match
from kiosk.quality import QualityResult, QualitySettings, check_quality
from kiosk.store import Gallery


@dataclass
class FrameResult:
    quality: QualityResult
    match: Match | None = None
    employee_id: int | None = None
    name: str | None = None
    accepted: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def face_found(self) -> bool:
        return self.quality.face is not None


class FaceEncoder:
    """Detector + quality gate + aligner + embedder for whole frames."""

    def __init__(self, detector: FaceDetector, embedder: Embedder, quality: QualitySettings = QualitySettings()):
        self.detector, self.embedder, self.quality = detector, embedder, quality
        # The camera loop and the admin page share these interpreters, which are not thread-safe.
        self._lock = threading.Lock()

    def encode(self, frame_bgr: np.ndarray, timings: dict | None = None):
        """Returns (quality result, aligned RGB crop or None, embedding or None)."""
        with self._lock:
            return self._encode(frame_bgr, {} if timings is None else timings)

    def detect(self, frame_bgr: np.ndarray):
        with self._lock:
            return self.detector.detect(frame_bgr, bgr=True)

    def _encode(self, frame_bgr: np.ndarray, timings: dict):
        t0 = time.perf_counter()
        detections = self.detector.detect(frame_bgr, bgr=True)
        t1 = time.perf_counter()
        quality = check_quality(frame_bgr, detections, self.quality)
        t2 = time.perf_counter()
        timings.update(detect=t1 - t0, quality=t2 - t1)
        if not quality.ok:
            return quality, None, None
        crop = align_face(frame_bgr, quality.face.keypoints, self.embedder.input_size)[:, :, ::-1].copy()
        t3 = time.perf_counter()
        embedding = self.embedder.embed(crop)
        timings.update(align=t3 - t2, embed=time.perf_counter() - t3)
        return quality, crop, embedding


class Recognizer:
    def __init__(self, encoder: FaceEncoder, threshold: float, min_margin: float):
        self.encoder, self.threshold, self.min_margin = encoder, threshold, min_margin

    def recognize(self, frame_bgr: np.ndarray, gallery: Gallery) -> FrameResult:
        timings: dict[str, float] = {}
        quality, _, embedding = self.encoder.encode(frame_bgr, timings)
        result = FrameResult(quality, timings=timings)
        if embedding is None:
            return result
        t = time.perf_counter()
        match = best_match(gallery.embeddings, embedding) if len(gallery) else None
        timings["match"] = time.perf_counter() - t
        result.match = match
        if match is not None:
            result.employee_id = int(gallery.ids[match.index])
            result.name = gallery.names[match.index]
            result.accepted = match.accepted(self.threshold, self.min_margin)
        return result


class Voter:
    """Accept a person only after ``needed`` of the last ``window`` frames with a
    face agreed on them; a frame without a face resets nothing but counts."""

    def __init__(self, needed: int = 3, window: int = 5):
        self.needed = needed
        self.votes: deque[int | None] = deque(maxlen=window)

    def add(self, result: FrameResult) -> int | None:
        if not result.face_found:
            self.votes.clear()
            return None
        self.votes.append(result.employee_id if result.accepted else None)
        if result.accepted and self.votes.count(result.employee_id) >= self.needed:
            self.votes.clear()
            return result.employee_id
        return None

    def unknown_streak(self) -> bool:
        """The window is full of faces that matched nobody: a stranger."""
        return len(self.votes) == self.votes.maxlen and all(v is None for v in self.votes)
