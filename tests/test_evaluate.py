"""``trainer evaluate`` on a pairs file whose distances are known exactly."""

import json

import cv2
import numpy as np
import pytest

from kiosk.alignment import TEMPLATE_112, ArcfaceAligner
from kiosk.detection import Detection

pytest.importorskip("matplotlib", reason="the trainer extra is not installed")
from trainer.evaluate import UNDETECTED_DISTANCE, evaluate  # noqa: E402

# Each image is one flat grey level; the embedding is a unit vector at an angle
# set by that level, so every pair distance is known in advance.
LEVELS = {"A/A_0001.jpg": 20, "A/A_0002.jpg": 30, "B/B_0001.jpg": 120, "B/B_0002.jpg": 125, "C/C_0001.jpg": 60, "D/D_0001.jpg": 0}


class FlatDetector:
    def detect(self, image, bgr=True):
        if image.mean() < 5:  # D's image: "no face"
            return []
        kps = np.vstack([TEMPLATE_112, [[30, 60], [80, 60]]]).astype(np.float32)
        return [Detection(np.array([0, 0, 112, 112], np.float32), 0.9, kps)]


def embed_one(crop):
    angle = np.radians(float(crop.mean()))
    return np.array([np.cos(angle), np.sin(angle)], np.float32)


def expected(a, b):
    return 1 - np.cos(np.radians(LEVELS[a] - LEVELS[b]))


@pytest.fixture
def images(tmp_path):
    for name, level in LEVELS.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / name), np.full((112, 112, 3), level, np.uint8))
    return tmp_path


def test_single_fold_accuracy_uses_the_calibration_threshold(images, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\nA\t1\t2\nB\t1\t2\nA\t1\tC\t1\nB\t2\tD\t1\n")
    calib = tmp_path / "calib.txt"
    calib.write_text("1\nA\t1\t2\nA\t2\tB\t1\n")
    report, d, same, threshold = evaluate(
        pairs, images, embed_one, ArcfaceAligner(112), FlatDetector(), None, calib, progress=False
    )
    np.testing.assert_allclose(
        d[:3],
        [
            expected("A/A_0001.jpg", "A/A_0002.jpg"),
            expected("B/B_0001.jpg", "B/B_0002.jpg"),
            expected("A/A_0001.jpg", "C/C_0001.jpg"),
        ],
        atol=1e-4,
    )
    assert d[3] == UNDETECTED_DISTANCE and report.data["images_without_face"] == ["D/D_0001.jpg"]
    # calibration: match at 10 degrees, mismatch at 90 -> threshold between them; A-C (40 degrees) is then "same"
    assert expected("A/A_0001.jpg", "A/A_0002.jpg") < threshold < expected("A/A_0002.jpg", "B/B_0001.jpg")
    assert report.data["accuracy"] == 0.75
    report.save(tmp_path / "out", d, same, threshold, "test")
    assert json.loads((tmp_path / "out" / "report.json").read_text())["accuracy"] == 0.75
    assert (tmp_path / "out" / "roc.png").is_file() and (tmp_path / "out" / "distances.png").is_file()


def test_multi_fold_files_follow_the_lfw_protocol(images, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\t1\nA\t1\t2\nA\t1\tB\t1\nB\t1\t2\nA\t2\tC\t1\n")
    report, *_ = evaluate(pairs, images, embed_one, ArcfaceAligner(112), FlatDetector(), None, progress=False)
    assert report.data["threshold_source"].startswith("other nine folds")
    # Fold 1's threshold comes from fold 0 (midway between 10 and 100 degrees), which
    # wrongly accepts fold 1's 30-degree mismatch; fold 0 is scored at fold 1's tight threshold.
    assert report.data["per_fold"] == [1.0, 0.5] and report.data["accuracy"] == 0.75


def test_single_fold_without_a_threshold_is_an_error(images, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\nA\t1\t2\nA\t1\tB\t1\n")
    with pytest.raises(ValueError, match="calibration-pairs"):
        evaluate(pairs, images, embed_one, ArcfaceAligner(112), FlatDetector(), None, progress=False)
