"""Export: int8 graphs an Edge TPU can take, parity with Keras on real crops,
and the sidecar the kiosk loads."""

import json

import pytest

pytest.importorskip("tensorflow", reason="export needs the trainer extra (TensorFlow)")

from kiosk.contract import load_contract  # noqa: E402
from tests.helpers import LFW_IMAGES, ROOT, fit, make_tiny_data  # noqa: E402
from trainer.export import ExportError, build_keras, check_integer_only, compile_edgetpu, convert, op_names, parity  # noqa: E402
from trainer.prepare import prepare  # noqa: E402

SHIPPED = ROOT / "trainer" / "weights"
PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Gerhard_Schroeder", "Jennifer_Capriati", "Ariel_Sharon"]


@pytest.fixture(scope="module")
def lfw_crops(tmp_path_factory):
    if not LFW_IMAGES.is_dir():
        pytest.skip(f"LFW is not available at {LFW_IMAGES}")
    from kiosk.alignment import ArcfaceAligner
    from kiosk.detection import FaceDetector, default_model_path
    from kiosk.inference import TFLiteModel

    folder = tmp_path_factory.mktemp("lfw_subset")
    for person in PEOPLE:
        (folder / person).mkdir()
        for image in sorted((LFW_IMAGES / person).glob("*.jpg"))[:25]:
            (folder / person / image.name).symlink_to(image)
    cache, failed = prepare(folder, FaceDetector(TFLiteModel(default_model_path())), ArcfaceAligner(64), progress=False)
    assert not failed
    return cache


@pytest.fixture(scope="module")
def shipped_keras():
    model, _ = build_keras(SHIPPED, "default-64.weights.h5")
    return model


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory, shipped_keras, lfw_crops):
    path = tmp_path_factory.mktemp("export") / "face_embedding_int8.tflite"
    path.write_bytes(convert(shipped_keras, "int8", lfw_crops.crops[::2]))
    return path


def write_sidecar(path, model):
    from trainer.export import _write_sidecar

    _write_sidecar(
        path, model, version="test", quantization=path.stem.rsplit("_", 1)[-1], threshold=0.5, metrics={}, alignment="arcface112"
    )


@pytest.mark.slow
@pytest.mark.lfw
def test_int8_graph_is_integer_only_with_edgetpu_ops(int8_model):
    check_integer_only(int8_model)
    assert set(op_names(int8_model)) <= {
        "ADD",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "L2_NORMALIZATION",
        "QUANTIZE",
        "DEQUANTIZE",
    }


@pytest.mark.slow
@pytest.mark.lfw
def test_int8_embeddings_match_keras_on_real_crops(int8_model, shipped_keras, lfw_crops):
    write_sidecar(int8_model, shipped_keras)
    cosine = parity(shipped_keras, int8_model, lfw_crops.crops[1::2])
    assert cosine.mean() > 0.98 and cosine.min() > 0.9


@pytest.mark.slow
@pytest.mark.lfw
@pytest.mark.parametrize("quantization", ["fp32", "fp16"])
def test_float_exports_match_keras(tmp_path, shipped_keras, lfw_crops, quantization):
    path = tmp_path / f"face_embedding_{quantization}.tflite"
    path.write_bytes(convert(shipped_keras, quantization))
    write_sidecar(path, shipped_keras)
    assert load_contract(path).input_size == 64
    assert parity(shipped_keras, path, lfw_crops.crops[:20]).min() > 0.999


@pytest.mark.slow
def test_float_model_is_not_edgetpu_ready(tmp_path, shipped_keras):
    path = tmp_path / "face_embedding_fp32.tflite"
    path.write_bytes(convert(shipped_keras, "fp32"))
    with pytest.raises(ExportError, match="float tensors|Edge TPU cannot run"):
        check_integer_only(path)


@pytest.mark.slow
@pytest.mark.lfw
def test_edgetpu_compile_without_the_compiler_says_how_to_get_it(tmp_path, monkeypatch, int8_model):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExportError, match="edgetpu_compiler is not on PATH.*apt-get install edgetpu-compiler"):
        compile_edgetpu(int8_model)


@pytest.mark.parametrize("name,size,alignment", [("default", 150, "dlib150"), ("fast", 64, "arcface112")])
def test_bundled_models_are_edgetpu_ready_int8_with_their_evaluation(name, size, alignment):
    from kiosk.config import BUNDLED_MODELS

    path = BUNDLED_MODELS[name]
    check_integer_only(path)
    contract = load_contract(path)
    assert (contract.quantization, contract.input_size, contract.alignment) == ("int8", size, alignment)
    assert {"tar_at_far_1e-3", "roc_auc", "ops"} <= set(contract.metrics) and len(contract.far_thresholds) >= 3
    assert json.loads(contract.sidecar_path.read_text())["model_file"] == path.name


@pytest.mark.slow
def test_full_export_writes_calibrated_sidecars(tmp_path):
    """``run_export`` on a tiny trained run: three models, thresholds from held-out people."""
    from trainer.export import ExportConfig, run_export

    run = fit(make_tiny_data(tmp_path), "run", epochs=2)
    written = run_export(
        ExportConfig(run=str(run), out=str(tmp_path / "out"), representative=20, calibration_mismatches=200), progress=False
    )
    assert set(written) == {"fp32", "fp16", "int8"}
    for path in written.values():
        contract = load_contract(path)
        assert 0 < contract.threshold < 2 and contract.metrics["far_target"] == 1e-3
        assert contract.metrics["calibration_pairs"]["mismatched"] > 0
