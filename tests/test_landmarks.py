"""dlib's 5-point landmarks without dlib: the converted model against dlib
itself, and the dlib150 chip against dlib.get_face_chip."""

import cv2
import numpy as np
import pytest

from kiosk.alignment import Dlib150Aligner, dlib_chip_matrix, dlib_chip_template, warp
from kiosk.inference import InferenceError
from kiosk.landmarks import DlibLandmarks, ShapePredictor, default_model_path, dlib_face_square
from tests.helpers import LFW_DLIB, LFW_IMAGES

dlib = pytest.importorskip(
    "dlib", reason="dlib-bin is not installed (scripts/install.sh dev installs it; the kiosk never needs it)"
)
face_recognition_models = pytest.importorskip("face_recognition_models", reason="face-recognition-models is not installed")

SAMPLE = [
    "Colin_Powell/Colin_Powell_0001.jpg",
    "Serena_Williams/Serena_Williams_0003.jpg",
    "Tony_Blair/Tony_Blair_0010.jpg",
    "Ariel_Sharon/Ariel_Sharon_0002.jpg",
    "Gerhard_Schroeder/Gerhard_Schroeder_0005.jpg",
    "Jennifer_Capriati/Jennifer_Capriati_0001.jpg",
    "Hugo_Chavez/Hugo_Chavez_0004.jpg",
    "Junichiro_Koizumi/Junichiro_Koizumi_0002.jpg",
]


@pytest.fixture(scope="module")
def dlib_boxes():
    if not LFW_DLIB.is_file() or not LFW_IMAGES.is_dir():
        pytest.skip(f"LFW and its dlib descriptors are not available at {LFW_IMAGES.parent}")
    with np.load(LFW_DLIB) as data:
        return dict(zip(data["paths"].astype(str), data["box_trbl"], strict=True))


@pytest.fixture(scope="module")
def dlib_predictor():
    return dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())


def dlib_points(predictor, rgb, box):
    top, right, bottom, left = (int(v) for v in box)
    shape = predictor(rgb, dlib.rectangle(left, top, right, bottom))
    return shape, np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], float)


@pytest.mark.lfw
def test_the_converted_predictor_finds_dlibs_points(dlib_boxes, dlib_predictor):
    ours = ShapePredictor.load(default_model_path())
    exact = 0
    for path in SAMPLE:
        rgb = cv2.imread(str(LFW_IMAGES / path))[:, :, ::-1].copy()
        _, want = dlib_points(dlib_predictor, rgb, dlib_boxes[path])
        top, right, bottom, left = (float(v) for v in dlib_boxes[path])
        grey = (rgb.astype(np.int32).sum(axis=2) // 3).astype(np.uint8)
        got = np.floor(ours.points(grey, np.array([[right - left, 0, left], [0, bottom - top, top]])) + 0.5)
        assert np.abs(got - want).max() <= 1  # dlib rounds in float32; we do not
        exact += bool((got == want).all())
    assert exact >= len(SAMPLE) - 2


@pytest.mark.lfw
def test_our_dlib150_chip_is_dlibs_chip(dlib_boxes, dlib_predictor):
    for path in SAMPLE:
        image = cv2.imread(str(LFW_IMAGES / path))
        rgb = image[:, :, ::-1].copy()
        shape, points = dlib_points(dlib_predictor, rgb, dlib_boxes[path])
        theirs = dlib.get_face_chip(rgb, shape, size=150, padding=0.25).astype(int)
        ours = warp(image, dlib_chip_matrix(points, dlib_chip_template(), 150), 150, cv2.BORDER_CONSTANT)[:, :, ::-1].astype(int)
        assert np.abs(ours - theirs).mean() < 1.0  # bilinear rounding only


@pytest.mark.lfw
def test_the_kiosk_chip_from_blazeface_embeds_like_dlibs_own_chip(dlib_boxes, dlib_predictor, detector):
    """End to end: BlazeFace, our box, our predictor, our chip; against dlib's HOG box, predictor and chip."""
    from kiosk.config import BUNDLED_MODEL
    from kiosk.embedding import Embedder
    from trainer.prepare import central_face

    embedder = Embedder.load(BUNDLED_MODEL)
    aligner = Dlib150Aligner(DlibLandmarks(ShapePredictor.load(default_model_path())))
    for path in SAMPLE:
        image = cv2.imread(str(LFW_IMAGES / path))
        rgb = image[:, :, ::-1].copy()
        shape, _ = dlib_points(dlib_predictor, rgb, dlib_boxes[path])
        theirs = embedder.embed(np.ascontiguousarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25)))
        ours = embedder.embed(aligner.align(image, central_face(detector.detect(image), image.shape)))
        assert 1 - float(ours @ theirs) < embedder.contract.threshold / 3


def test_the_face_square_follows_the_eye_line():
    from kiosk.detection import Detection

    upright = Detection(
        np.array([100, 100, 200, 200], np.float32),
        0.9,
        np.array([[130, 140], [170, 140], [150, 165], [150, 185], [110, 150], [190, 150]], np.float32),
    )
    square = dlib_face_square(upright)
    assert square[0, 1] == pytest.approx(0) and square[0, 0] == pytest.approx(square[1, 1])  # axis-aligned, square
    centre = square @ np.array([0.5, 0.5, 1.0])
    assert centre[0] == pytest.approx(150 - 0.0772 * 40, abs=0.01) and centre[1] > 140  # below the eyes
    turned = Detection(
        upright.box, 0.9, np.array([[130, 140], [170, 180], [150, 165], [150, 185], [110, 150], [190, 150]], np.float32)
    )
    assert np.degrees(np.arctan2(*dlib_face_square(turned)[::-1, 0])) == pytest.approx(45)


def test_a_missing_or_damaged_landmark_file_is_named(tmp_path):
    with pytest.raises(InferenceError, match="missing.npz: landmark model not found"):
        ShapePredictor.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not numpy")
    with pytest.raises(InferenceError, match="bad.npz: not a landmark model"):
        ShapePredictor.load(tmp_path / "bad.npz")


def test_the_shape_predictor_reader_refuses_a_damaged_file(tmp_path):
    from trainer.dlib_dnn import DlibFormatError
    from trainer.dlib_shape import read_shape_predictor

    data = open(face_recognition_models.pose_predictor_five_point_model_location(), "rb").read()
    (tmp_path / "short.dat").write_bytes(data[: len(data) // 2])
    with pytest.raises(DlibFormatError, match="short.dat: .*ends early"):
        read_shape_predictor(tmp_path / "short.dat")
    (tmp_path / "net.dat").write_bytes(open(face_recognition_models.face_recognition_model_location(), "rb").read()[:5000])
    with pytest.raises(DlibFormatError, match="net.dat"):
        read_shape_predictor(tmp_path / "net.dat")


def test_the_shipped_landmark_arrays_are_the_converted_dlib_file(tmp_path):
    from trainer.dlib_shape import convert

    fresh = convert(face_recognition_models.pose_predictor_five_point_model_location(), tmp_path / "l.npz")
    with np.load(fresh) as a, np.load(default_model_path()) as b:
        assert set(a.files) == set(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
