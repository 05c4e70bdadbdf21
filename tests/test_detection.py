import cv2
import numpy as np
import pytest

from kiosk.detection import decode, letterbox, ssd_anchors, weighted_nms
from tests.helpers import lfw_image


def test_short_range_anchor_layout():
    anchors = ssd_anchors()
    assert anchors.shape == (896, 2)  # 16x16x2 + 8x8x6
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8])


def test_decode_puts_boxes_and_keypoints_around_the_anchor():
    anchors = np.array([[0.5, 0.5]], np.float32)
    raw = np.zeros((1, 1, 16), np.float32)
    raw[0, 0, 2:4] = [20, 10]  # width, height
    raw[0, 0, 4:6] = [-5, 1]  # first keypoint offset
    boxes, kps, scores = decode(raw, np.array([[[0.0]]]), anchors, 128)
    np.testing.assert_allclose(boxes[0], [54, 59, 74, 69])
    np.testing.assert_allclose(kps[0, 0], [59, 65])
    assert scores[0] == pytest.approx(0.5)


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10]], np.float32)
    kps = np.zeros((4, 6, 2), np.float32)
    scores = np.array([0.9, 0.9, 0.8, 0.1])
    out = weighted_nms(boxes, kps, scores, 0.5, 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out[0][0], [0.5, 0, 10.5, 10])


def test_letterbox_keeps_aspect_ratio():
    image = np.full((100, 200, 3), 255, np.uint8)
    out, scale, px, py = letterbox(image, 128)
    assert out.shape == (128, 128, 3) and scale == 0.64 and px == 0 and py == 32
    assert out[:32].max() == 0 and out[32:96].min() == 255


@pytest.mark.lfw
def test_finds_the_face_and_its_eyes_in_an_lfw_photo(lfw, detector):
    image = cv2.imread(str(lfw_image("Aaron_Eckhart")))
    (face,) = detector.detect(image)
    assert face.score > 0.7
    left, right = face.keypoints[0], face.keypoints[1]
    assert left[0] < right[0] and abs(left[1] - right[1]) < 10
    assert 90 < face.box[0] + face.width / 2 < 160  # LFW centres the subject


@pytest.mark.lfw
def test_finds_nothing_in_a_blank_frame_and_two_in_a_pair(lfw, detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    a = cv2.imread(str(lfw_image("Aaron_Eckhart")))
    b = cv2.imread(str(lfw_image("George_W_Bush", 1)))
    assert len(detector.detect(np.hstack([a, b]))) == 2


@pytest.mark.lfw
def test_rgb_and_bgr_frames_give_the_same_face(lfw, detector):
    image = cv2.imread(str(lfw_image("Aaron_Eckhart")))
    a = detector.detect(image, bgr=True)[0]
    b = detector.detect(np.ascontiguousarray(image[:, :, ::-1]), bgr=False)[0]
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)


def test_rejects_non_colour_frames(detector):
    with pytest.raises(ValueError, match="HxWx3"):
        detector.detect(np.zeros((10, 10), np.uint8))


@pytest.mark.lfw
def test_the_default_detector_falls_back_to_short_range_for_close_ups(lfw):
    from kiosk.detection import FaceDetector, default_model_path, make_detector
    from kiosk.inference import TFLiteModel

    # A face filling the picture that the full-range model alone misses.
    image = cv2.imread(str(lfw_image("Katie_Boone", 1)))
    assert FaceDetector(TFLiteModel(default_model_path("full"))).detect(image) == []
    faces = make_detector("full").detect(image)
    assert len(faces) == 1 and 60 < faces[0].width < 200
    assert make_detector("full").detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_unknown_detector_names_the_choices():
    from kiosk.detection import make_detector

    with pytest.raises(ValueError, match="short, full"):
        make_detector("wide")
