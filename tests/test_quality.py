import cv2
import numpy as np
import pytest

from kiosk.detection import Detection
from kiosk.quality import REASONS, QualitySettings, check_quality, pose
from tests.conftest import lfw_image


def face(eyes=((100, 100), (140, 100)), nose=(120, 125), width=80.0, x=80.0):
    kps = np.array([eyes[0], eyes[1], nose, (120, 150), (85, 110), (155, 110)], np.float32)
    return Detection(np.array([x, 70, x + width, 70 + width], np.float32), 0.9, kps)


def test_pose_of_a_frontal_face_and_a_turned_one():
    assert pose(face()) == pytest.approx((0.0, 0.0))
    yaw, _ = pose(face(nose=(136, 125)))
    assert yaw == pytest.approx(0.4)
    _, roll = pose(face(eyes=((100, 100), (140, 140))))
    assert roll == pytest.approx(45)


@pytest.mark.parametrize("detections,reason", [
    ([], "no_face"),
    ([face(), face(x=300)], "several_faces"),
    ([face(eyes=((100, 100), (110, 100)), nose=(105, 110))], "too_small"),
    ([face(nose=(138, 125))], "turned"),
    ([face(eyes=((100, 100), (130, 130)), nose=(110, 125))], "tilted"),
])
def test_geometry_reasons(detections, reason):
    frame = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    result = check_quality(frame, detections)
    assert not result.ok and result.reason == reason
    assert result.message == REASONS[reason]


def test_a_small_second_face_in_the_background_is_allowed(lfw, detector):
    image = cv2.imread(str(lfw_image("Aaron_Eckhart")))
    main = detector.detect(image)
    background = face(width=10, x=5)
    assert check_quality(image, main + [background]).ok


@pytest.mark.parametrize("transform,reason", [
    (lambda im: (im * 0.15).astype(np.uint8), "too_dark"),
    (lambda im: np.clip(im.astype(int) * 3 + 120, 0, 255).astype(np.uint8), "too_bright"),
    (lambda im: cv2.GaussianBlur(im, (0, 0), 4), "blurred"),
])
def test_photometric_reasons_on_a_real_face(lfw, detector, transform, reason):
    image = cv2.imread(str(lfw_image("Aaron_Eckhart")))
    faces = detector.detect(image)
    assert check_quality(image, faces).ok
    result = check_quality(transform(image), faces)
    assert (result.ok, result.reason) == (False, reason)


def test_thresholds_are_settings():
    frame = np.full((300, 400, 3), 128, np.uint8)
    strict = QualitySettings(min_eye_distance=100)
    assert check_quality(frame, [face()], strict).reason == "too_small"
