"""The face quality gate shared by enrolment, ``identify`` and the kiosk.

Two tiers, designed together with the decision threshold:

- **good**: a face the kiosk trusts at its normal threshold (front-on,
  sharp, large enough). Only good frames vote at the kiosk.
- **fair**: passes only the lenient limits (somewhat turned, soft, small).
  A single photo of a fair face is still identified, at a stricter threshold,
  and can be enrolled with a note; at the kiosk it shows guidance instead,
  because the next frame is usually better.

Anything worse is refused with a reason a person can act on. Pure
functions over a frame and its detections; limits live in :class:`QualitySettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.alignment import align_face
from kiosk.config import QualitySettings
from kiosk.detection import Detection

# Sharpness and exposure are measured on a crop of this fixed size so the
# thresholds do not depend on the camera resolution.
_MEASURE_SIZE = 112
GOOD, FAIR = "good", "fair"


# Where no model's crop is given: about the eye distance in dlib's 150 px chip.
DEFAULT_CROP_EYE_DISTANCE = 48.0

# Reason codes with the message shown to the person in front of the camera.
REASONS = {
    "no_face": "No face found - please look at the camera.",
    "several_faces": "More than one face - one person at a time, please.",
    "too_small": "Face too small - please move closer.",
    "turned": "Please face the camera directly.",
    "tilted": "Please hold your head upright.",
    "blurred": "Image is blurred - please hold still.",
    "too_dark": "Too dark - please find more light.",
    "too_bright": "Too bright - please step out of direct light.",
}


@dataclass(frozen=True)
class QualityResult:
    """``ok`` for a good or fair face; ``reason`` says what is wrong (for a
    fair face: what keeps it from being good)."""

    ok: bool
    reason: str | None = None  # a key of REASONS
    face: Detection | None = None
    note: str | None = None  # something the person enrolling should know, e.g. which face was used
    tier: str | None = None  # GOOD or FAIR when ok

    @property
    def good(self) -> bool:
        return self.ok and self.tier == GOOD

    @property
    def message(self) -> str:
        return REASONS[self.reason] if self.reason else "OK"


def pose(face: Detection) -> tuple[float, float]:
    """(yaw ratio, roll in degrees) estimated from the eye and nose keypoints."""
    left, right, nose = face.keypoints[0], face.keypoints[1], face.keypoints[2]
    eye_vec = right - left
    eye_dist = max(float(np.linalg.norm(eye_vec)), 1e-6)
    roll = float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0])))
    # Component of the nose offset along the eye line: ~0 when facing the camera.
    yaw = float(np.dot(nose - (left + right) / 2, eye_vec) / eye_dist**2)
    return yaw, roll


def choose_face(detections: list[Detection], frame_shape, settings: QualitySettings) -> tuple[Detection | None, str | None]:
    """The face to use, and a note when others were ignored; None when
    several faces are alike and none stands in the middle. Faces much smaller
    than the largest are bystanders; otherwise the most central face wins if
    it is about as large as the largest and near the middle of the picture."""
    faces = sorted(detections, key=lambda d: d.width, reverse=True)
    largest = faces[0]
    if len(faces) == 1 or faces[1].width < settings.min_second_face_ratio * largest.width:
        return largest, None
    h, w = frame_shape[:2]
    centre = np.array([w, h], np.float32) / 2

    def offset(d: Detection) -> float:
        return float(np.linalg.norm(d.box.reshape(2, 2).mean(0) - centre))

    central = min(faces, key=offset)
    if central.width >= settings.dominant_face_ratio * largest.width and offset(central) <= settings.central_fraction * min(h, w):
        return central, f"{len(faces)} faces in the picture: used the one in the middle"
    return None, None


def min_eyes(settings: QualitySettings, tier: str, crop_eye_distance: float) -> float:
    """Smallest eye distance in the frame for a face of this tier, for a
    model whose crop has its eyes ``crop_eye_distance`` apart."""
    if settings.min_eye_distance is not None:
        return settings.min_eye_distance * (1.0 if tier == GOOD else settings.fair_min_face_scale / settings.min_face_scale)
    return crop_eye_distance * (settings.min_face_scale if tier == GOOD else settings.fair_min_face_scale)


def check_quality(
    frame_bgr: np.ndarray,
    detections: list[Detection],
    settings: QualitySettings = QualitySettings(),
    crop_eye_distance: float = DEFAULT_CROP_EYE_DISTANCE,
) -> QualityResult:
    """``crop_eye_distance``: the eye distance in the model's own crop, which sets the smallest usable face."""
    if not detections:
        return QualityResult(False, "no_face")
    face, note = choose_face(detections, frame_bgr.shape, settings)
    if face is None:
        return QualityResult(False, "several_faces", max(detections, key=lambda d: d.width))
    fair_fault, good_fault = _faults(frame_bgr, face, settings, crop_eye_distance)
    if fair_fault:
        return QualityResult(False, fair_fault, face)
    return QualityResult(True, good_fault, face, note, FAIR if good_fault else GOOD)


def _faults(
    frame_bgr: np.ndarray, face: Detection, settings: QualitySettings, crop_eye_distance: float
) -> tuple[str | None, str | None]:
    """The first reason the face fails the lenient limits, and the first it fails the strict ones."""
    yaw, roll = pose(face)
    grey = cv2.cvtColor(align_face(frame_bgr, face.keypoints, _MEASURE_SIZE), cv2.COLOR_BGR2GRAY)
    brightness = float(grey.mean())
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    checks = [  # (reason, fails the strict limit, fails the lenient limit)
        (
            "too_small",
            face.eye_distance < min_eyes(settings, GOOD, crop_eye_distance),
            face.eye_distance < min_eyes(settings, FAIR, crop_eye_distance),
        ),
        ("turned", abs(yaw) > settings.max_yaw, abs(yaw) > settings.fair_max_yaw),
        ("tilted", abs(roll) > settings.max_roll_degrees, abs(roll) > settings.max_roll_degrees),
        ("too_dark", brightness < settings.min_brightness, brightness < settings.min_brightness),
        ("too_bright", brightness > settings.max_brightness, brightness > settings.max_brightness),
        ("blurred", sharpness < settings.min_sharpness, sharpness < settings.fair_min_sharpness),
    ]
    fair = next((reason for reason, _, lenient in checks if lenient), None)
    good = next((reason for reason, strict, _ in checks if strict), None)
    return fair, good
