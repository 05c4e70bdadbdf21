"""The face quality gate shared by enrollment and the kiosk.

Each rejection carries a reason a person can act on. Pure function over a
frame and its detections; thresholds live in :class:`QualitySettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.alignment import align_face
from kiosk.detection import Detection

# Sharpness and exposure are measured on a crop of this fixed size so the
# thresholds do not depend on the camera resolution.
_MEASURE_SIZE = 112


@dataclass(frozen=True)
class QualitySettings:
    min_eye_distance: float = 24.0  # pixels between the eyes in the frame
    min_sharpness: float = 60.0  # variance of the Laplacian on the aligned crop
    min_brightness: float = 50.0  # mean grey level of the aligned crop
    max_brightness: float = 210.0
    max_yaw: float = 0.35  # nose offset from the eye midpoint, in eye distances
    max_roll_degrees: float = 30.0
    min_second_face_ratio: float = 0.5  # a second face this large (relative) counts as "several faces"


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
    ok: bool
    reason: str | None = None  # a key of REASONS
    face: Detection | None = None

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


def check_quality(frame_bgr: np.ndarray, detections: list[Detection], settings: QualitySettings = QualitySettings()) -> QualityResult:
    if not detections:
        return QualityResult(False, "no_face")
    faces = sorted(detections, key=lambda d: d.width, reverse=True)
    face = faces[0]
    if len(faces) > 1 and faces[1].width >= settings.min_second_face_ratio * face.width:
        return QualityResult(False, "several_faces", face)
    if face.eye_distance < settings.min_eye_distance:
        return QualityResult(False, "too_small", face)
    yaw, roll = pose(face)
    if abs(yaw) > settings.max_yaw:
        return QualityResult(False, "turned", face)
    if abs(roll) > settings.max_roll_degrees:
        return QualityResult(False, "tilted", face)
    grey = cv2.cvtColor(align_face(frame_bgr, face.keypoints, _MEASURE_SIZE), cv2.COLOR_BGR2GRAY)
    brightness = float(grey.mean())
    if brightness < settings.min_brightness:
        return QualityResult(False, "too_dark", face)
    if brightness > settings.max_brightness:
        return QualityResult(False, "too_bright", face)
    if float(cv2.Laplacian(grey, cv2.CV_64F).var()) < settings.min_sharpness:
        return QualityResult(False, "blurred", face)
    return QualityResult(True, None, face)
