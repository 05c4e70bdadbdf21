"""detect -> quality gate -> align -> embed -> match: one frame or photo
against the gallery. The decision per visit is kiosk.visits' (fed by
kiosk.visit_decision)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from kiosk.alignment import Aligner
from kiosk.config import QualitySettings, RecognitionSettings
from kiosk.contract import ModelContract
from kiosk.detection import Detector
from kiosk.embedding import Embedder
from kiosk.matching import Match, effective_comparisons, gallery_threshold, nearest_of
from kiosk.quality import GOOD, QualityResult, check_quality
from kiosk.store_rows import Gallery
from kiosk.visits import Opinion


@dataclass
class FrameResult:
    """What one frame or photo came to: the gate's verdict and, for a usable
    face, the nearest person and whether the match was accepted."""

    quality: QualityResult
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    # Filled by the recogniser when there was a face to match:
    match: Match | None = field(default=None, init=False)
    employee_id: int | None = field(default=None, init=False)
    name: str | None = field(default=None, init=False)
    accepted: bool = field(default=False, init=False)
    threshold: float | None = field(default=None, init=False)  # the one the match was held to
    embedding: np.ndarray | None = field(default=None, init=False, repr=False)  # of a usable face

    @property
    def face_found(self) -> bool:
        return self.quality.face is not None


class FaceEncoder:
    """Detector + quality gate + aligner + embedder for whole frames. The
    aligner must be the one the model's sidecar names."""

    def __init__(self, detector: Detector, aligner: Aligner, embedder: Embedder, quality: QualitySettings = QualitySettings()):
        if (aligner.name, aligner.size) != (embedder.contract.alignment, embedder.input_size):
            raise ValueError(
                f"{embedder.contract.sidecar_path}: the model needs '{embedder.contract.alignment}' crops of "
                f"{embedder.input_size} px, the aligner makes '{aligner.name}' crops of {aligner.size} px"
            )
        self.detector, self.aligner, self.embedder, self.quality = detector, aligner, embedder, quality
        # The camera loop and the admin page share these interpreters, which are not thread-safe.
        self._lock = threading.Lock()

    def encode(self, frame_bgr: np.ndarray, timings: dict | None = None):
        """Returns (quality result, aligned RGB crop or None, embedding or None)."""
        with self._lock:
            return self._encode(frame_bgr, {} if timings is None else timings)

    def detect(self, frame_bgr: np.ndarray):
        with self._lock:
            return self.detector.detect(frame_bgr, bgr=True)

    def check(self, frame_bgr: np.ndarray) -> QualityResult:
        """Detection and the quality gate only."""
        with self._lock:
            return check_quality(frame_bgr, self.detector.detect(frame_bgr, bgr=True), self.quality, self.aligner.eye_distance)

    def accepts_crop(self, crop_rgb: np.ndarray) -> bool:
        """Whether a crop stored before reference images were kept fits this model:
        those were all arcface112 crops at the model's input size."""
        return self.aligner.name == "arcface112" and crop_rgb.shape[:2] == (self.aligner.size, self.aligner.size)

    def embed_crop(self, crop_rgb: np.ndarray) -> np.ndarray:
        with self._lock:
            return self.embedder.embed(crop_rgb)

    def embed_face(self, image_bgr: np.ndarray, face) -> tuple[np.ndarray, np.ndarray]:
        """(aligned RGB crop, embedding) of a face already found in ``image_bgr``."""
        with self._lock:
            crop = self.aligner.align(image_bgr, face)
            return crop, self.embedder.embed(crop)

    def _encode(self, frame_bgr: np.ndarray, timings: dict):
        t0 = time.perf_counter()
        detections = self.detector.detect(frame_bgr, bgr=True)
        t1 = time.perf_counter()
        quality = check_quality(frame_bgr, detections, self.quality, self.aligner.eye_distance)
        t2 = time.perf_counter()
        timings.update(detect=t1 - t0, quality=t2 - t1)
        if not quality.ok:
            return quality, None, None
        crop = self.aligner.align(frame_bgr, quality.face, timings)
        t3 = time.perf_counter()
        embedding = self.embedder.embed(crop)
        # "align" includes the landmark step where the model's alignment has one ("landmarks").
        timings.update(align=t3 - t2, embed=time.perf_counter() - t3)
        return quality, crop, embedding


@dataclass(frozen=True)
class Thresholds:
    """Distance thresholds for good and for fair faces (see kiosk.quality)."""

    good: float
    fair: float

    def for_tier(self, tier: str | None) -> float:
        return self.good if tier == GOOD else self.fair


def decision_thresholds(
    contract: ModelContract, gallery_size: int, settings: RecognitionSettings, override: float | None = None, fused: bool = False
) -> Thresholds:
    """The thresholds for a gallery of this size: a stranger passes as
    someone with a chance of about ``stranger_accept_rate`` (a fair face:
    ``fair_rate_factor`` times that), from the sidecar's false-accept table;
    for ``fused`` evidence (a visit's faces averaged) from its table for
    fused faces, where the sidecar has one. A configured ``override`` (or a
    model without a table) sets one pair-level threshold for both."""
    if override is not None:
        return Thresholds(override, override)
    table = contract.fused_far_thresholds if fused and contract.fused_far_thresholds else contract.far_thresholds
    if not table:
        return Thresholds(contract.threshold, contract.threshold)
    rate = settings.stranger_accept_rate
    return Thresholds(
        gallery_threshold(table, gallery_size, rate),
        gallery_threshold(table, gallery_size, rate * settings.fair_rate_factor),
    )


class Recognizer:
    """One frame or photo against the gallery: the best match, accepted when
    within the threshold for its quality tier and the gallery's size, and
    clearly nearer than the next person (by ``margin_fraction`` of the threshold)."""

    def __init__(self, encoder: FaceEncoder, settings: RecognitionSettings, threshold_override: float | None = None):
        self.encoder, self.settings, self.override = encoder, settings, threshold_override
        self._thresholds: dict[tuple[float, bool], Thresholds] = {}

    def comparisons(self, gallery: Gallery) -> float:
        """What the stranger rate is shared over: each person once, and each further picture of
        them at the sidecar's ``extra_picture_weight`` (pictures of one face are alike)."""
        return effective_comparisons(len(gallery), gallery.pictures, self.encoder.embedder.contract.extra_picture_weight)

    def thresholds(self, gallery_size: float, fused: bool = False) -> Thresholds:
        """For one photo or frame, or (``fused``) for a visit's faces averaged."""
        key = (gallery_size, fused)
        if key not in self._thresholds:
            if len(self._thresholds) > 16:  # the gallery size changes rarely; keep the few in use
                self._thresholds.clear()
            contract = self.encoder.embedder.contract
            self._thresholds[key] = decision_thresholds(contract, gallery_size, self.settings, self.override, fused)
        return self._thresholds[key]

    def recognize(self, frame_bgr: np.ndarray, gallery: Gallery) -> FrameResult:
        timings: dict[str, float] = {}
        quality, _, embedding = self.encoder.encode(frame_bgr, timings)
        result = FrameResult(quality, timings)
        if embedding is None:
            return result
        result.embedding = embedding
        t = time.perf_counter()
        match = nearest_of(gallery.distances(embedding)) if len(gallery) else None
        timings["match"] = time.perf_counter() - t
        result.match = match
        if match is not None:
            result.employee_id = int(gallery.ids[match.index])
            result.name = gallery.names[match.index]
            result.threshold = self.thresholds(self.comparisons(gallery)).for_tier(quality.tier)
            result.accepted = self.accepts(match, result.threshold)
        return result

    def accepts(self, match: Match, threshold: float) -> bool:
        """Within the threshold, and clearly nearer than the next person."""
        return match.accepted(threshold, self.settings.margin_fraction * threshold)

    def opinion(self, embedding: np.ndarray, tier: str, gallery: Gallery, fused: bool = True) -> Opinion:
        """The gallery's answer for a visit's fused evidence of this tier, at the thresholds for fused faces
        (``fused=False``: for one face, as :meth:`recognize` judges it)."""
        match = nearest_of(gallery.distances(embedding)) if len(gallery) else None
        if match is None:
            return Opinion(None, None, False)
        threshold = self.thresholds(self.comparisons(gallery), fused=fused).for_tier(tier)
        return Opinion(int(gallery.ids[match.index]), match.distance, self.accepts(match, threshold), match.margin)
