import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KIOSK_SHARED", ROOT.parent / "shared"))
LFW = SHARED / "data" / "lfw"
LFW_IMAGES = LFW / "images_deepfunneled"
LFW_DLIB = SHARED / "data" / "lfw-dlib" / "descriptors.npz"
TEST_OUTPUT = ROOT / "test-output"


def lfw_image(person: str, number: int = 1) -> Path:
    return LFW_IMAGES / person / f"{person}_{number:04d}.jpg"


@pytest.fixture
def lfw():
    if not LFW_IMAGES.is_dir():
        pytest.skip(f"LFW is not available at {LFW_IMAGES} (it lives in ../shared beside the repo)")
    return LFW


@pytest.fixture(scope="session")
def detector():
    from kiosk.detection import FaceDetector, default_model_path
    from kiosk.inference import TFLiteModel

    return FaceDetector(TFLiteModel(default_model_path()))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def punch(store, employee_id, at, cooldown_seconds=0.0, kiosk_id="k", distance=0.1, day_start=None):
    """What the kiosk records for a recognised face at ``at`` (the attendance rules, in UTC days)."""
    import datetime as dt

    from kiosk import attendance

    start = day_start or dt.time(0)

    def rule(history):
        return attendance.decide(history, at, cooldown_seconds, dt.timezone.utc, start)

    entry, _ = store.record_visit(employee_id, at, rule, work_day=attendance.work_day(at, dt.timezone.utc, start),
                                  distance=distance, kiosk_id=kiosk_id, model_version="v1")
    return entry
