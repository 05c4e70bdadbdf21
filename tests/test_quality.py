import cv2
import numpy as np
import pytest

from kiosk import quality
from kiosk.config import QualitySettings
from kiosk.detection import Detection
from kiosk.quality import FAIR, GOOD, REASONS, choose_face, pose
from tests.helpers import lfw_image

SETTINGS = QualitySettings()
CROP_EYES = 40.0  # a model whose crop has its eyes 40 px apart: good faces need 20 px, fair ones 10 px


def check_quality(frame, detections, settings=SETTINGS, crop_eye_distance=CROP_EYES):
    return quality.check_quality(frame, detections, settings, crop_eye_distance)


def face(eyes=((100, 100), (140, 100)), nose=(120, 125), width=80.0, x=80.0, y=70.0):
    kps = np.array([eyes[0], eyes[1], nose, (120, 150), (85, 110), (155, 110)], np.float32)
    return Detection(np.array([x, y, x + width, y + width], np.float32), 0.9, kps)


def test_pose_of_a_frontal_face_and_a_turned_one():
    assert pose(face()) == pytest.approx((0.0, 0.0))
    yaw, _ = pose(face(nose=(136, 125)))
    assert yaw == pytest.approx(0.4)
    _, roll = pose(face(eyes=((100, 100), (140, 140))))
    assert roll == pytest.approx(45)


@pytest.mark.parametrize(
    "detections,reason",
    [
        ([], "no_face"),
        ([face(x=20), face(x=300)], "several_faces"),
        ([face(eyes=((100, 100), (108, 100)), nose=(104, 110))], "too_small"),
        ([face(nose=(146, 125))], "turned"),
        ([face(eyes=((100, 100), (130, 130)), nose=(110, 125))], "tilted"),
    ],
)
def test_faces_beyond_the_lenient_limits_are_refused(detections, reason):
    frame = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    result = check_quality(frame, detections, SETTINGS)
    assert not result.ok and result.reason == reason and result.tier is None
    assert result.message == REASONS[reason]


@pytest.mark.parametrize(
    "detection,reason",
    [
        (face(nose=(136, 125)), "turned"),  # yaw 0.4: over 0.35, under 0.6
        (face(eyes=((100, 100), (115, 100)), nose=(107.5, 112)), "too_small"),  # 15 px: under 20, over 10
    ],
)
def test_faces_between_the_limits_are_fair_and_say_why(detection, reason):
    frame = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    result = check_quality(frame, [detection], SETTINGS)
    assert result.ok and result.tier == FAIR and result.reason == reason and not result.good


@pytest.mark.lfw
def test_a_small_second_face_in_the_background_is_allowed(lfw, detector):
    image = cv2.imread(str(lfw_image("Aaron_Eckhart")))
    main = detector.detect(image)
    background = face(width=10, x=5)
    result = check_quality(image, main + [background], SETTINGS)
    assert result.good and result.note is None


def test_the_face_in_the_middle_is_chosen_among_similar_ones_and_the_choice_is_noted():
    middle, side = face(x=160, y=110, width=80), face(x=10, y=10, width=90)
    chosen, note = choose_face([side, middle], (300, 400, 3), SETTINGS)
    assert chosen is middle and "used the one in the middle" in note


def test_similar_faces_with_none_in_the_middle_are_refused():
    left, right = face(x=10, y=110, width=80), face(x=310, y=110, width=85)
    assert choose_face([left, right], (300, 400, 3), SETTINGS) == (None, None)


def test_a_much_smaller_face_in_the_middle_does_not_win():
    big, small_middle = face(x=10, y=10, width=120), face(x=170, y=120, width=70)
    assert choose_face([big, small_middle], (300, 400, 3), SETTINGS) == (None, None)


@pytest.mark.lfw
@pytest.mark.parametrize(
    "transform,reason,tier",
    [
        (lambda im: (im * 0.15).astype(np.uint8), "too_dark", None),
        (lambda im: np.clip(im.astype(int) * 3 + 120, 0, 255).astype(np.uint8), "too_bright", None),
        (lambda im: cv2.GaussianBlur(im, (0, 0), 4), "blurred", None),
        (lambda im: cv2.GaussianBlur(im, (0, 0), 1.3), "blurred", FAIR),
    ],
)
def test_photometric_reasons_on_a_real_face(lfw, detector, transform, reason, tier):
    image = cv2.imread(str(lfw_image("Aaron_Eckhart")))
    faces = detector.detect(image)
    assert check_quality(image, faces, SETTINGS).tier == GOOD
    result = check_quality(transform(image), faces, SETTINGS)
    assert (result.ok, result.reason, result.tier) == (tier is not None, reason, tier)


def test_the_minimum_face_size_follows_the_models_crop():
    frame = np.full((300, 400, 3), 128, np.uint8)
    small = face(eyes=((100, 100), (124, 100)), nose=(112, 115))  # 24 px between the eyes
    assert check_quality(frame, [small], crop_eye_distance=40.0).reason != "too_small"
    assert check_quality(frame, [small], crop_eye_distance=150.0).reason == "too_small"  # needs 37.5 to be fair


def test_a_fixed_minimum_eye_distance_overrides_the_crop():
    frame = np.full((300, 400, 3), 128, np.uint8)
    strict = QualitySettings(min_eye_distance=100)
    assert check_quality(frame, [face()], strict).reason == "too_small"
