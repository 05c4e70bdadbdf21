"""Fixtures only; shared plain functions and paths are in tests/helpers.py."""

import os

import numpy as np
import pytest

# Before anything imports Keras: the trainer's tests run on TensorFlow, quietly.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.helpers import LFW, LFW_IMAGES  # noqa: E402


def pytest_collection_modifyitems(config, items):
    for item in items:
        # The marker is how `-m "not lfw"` leaves these out, so a test that asks for LFW must carry it.
        if "lfw" in item.fixturenames and item.get_closest_marker("lfw") is None:
            raise pytest.UsageError(f"{item.nodeid} uses the lfw fixture but is not marked @pytest.mark.lfw")
        # Tests that read LFW paths directly skip like the fixture's users when it is absent.
        if item.get_closest_marker("lfw") is not None and not LFW_IMAGES.is_dir():
            item.add_marker(
                pytest.mark.skip(reason=f"LFW is not available at {LFW_IMAGES} (it lives in ../shared beside the repo)")
            )


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
