"""The passive spoof detector (MiniFASNet): the ``.pth`` reader on the real files and
on hand-made, damaged and hostile ones; the committed TFLite models against a forward
pass of the original weights and against the original's verdicts on its sample
images; the original's crop geometry; the sidecar's errors."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.spoof_detector import SpoofDetector, SpoofModelError, crop_box, default_sidecar_path
from trainer.minifasnet import SourceModel, TorchFormatError, read_state_dict, reference_logits, tflite_logits

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = Path(os.environ.get("KIOSK_SHARED", ROOT.parent / "shared")) / "models" / "minifasnet"
MODELS = ROOT / "kiosk" / "models"
# What the original pipeline says of its sample images (shared/models/minifasnet/README.md).
ORIGINAL = {"F1": ("spoof", 0.73), "F2": ("spoof", 0.82), "T1": ("real", 0.994)}
# The original found faces with its own RetinaFace; we use the kiosk's BlazeFace, whose
# boxes differ, and the crop follows the box: scores may move this much.
SCORE_TOLERANCE = 0.03

needs_weights = pytest.mark.skipif(
    not WEIGHTS.is_dir(), reason=f"the MiniFASNet weights are not at {WEIGHTS} (shared/ beside the repo)"
)


def sources() -> list[SourceModel]:
    return [SourceModel.parse(p) for p in sorted(WEIGHTS.glob("*.pth"))]


@pytest.fixture(scope="module")
def spoof():
    return SpoofDetector.load()


@pytest.fixture(scope="module")
def samples():
    """The three sample images and the kiosk detector's face box in each."""
    from kiosk.detection import make_detector

    detector, found = make_detector("full"), {}
    for name in ORIGINAL:
        image = cv2.imread(str(WEIGHTS / f"image_{name}.jpg"))  # as the original reads them (EXIF orientation applied)
        faces = detector.detect(image)
        assert len(faces) == 1, f"image_{name}.jpg: expected one face, found {len(faces)}"
        found[name] = (image, faces[0].box)
    return found


# ---- the real files --------------------------------------------------------------------------------


@needs_weights
def test_the_real_files_are_minifasnet_state_dicts():
    v2, v1se = (read_state_dict(s.path) for s in sorted(sources(), key=lambda s: s.variant != "MiniFASNetV2"))
    for state in (v2, v1se):
        assert not any(name.startswith("module.") for name in state)
        assert state["conv1.conv.weight"].shape == (32, 3, 3, 3) and state["conv1.conv.weight"].dtype == np.float32
        assert state["conv_6_dw.conv.weight"].shape == (512, 1, 5, 5)  # the global depthwise conv of an 80x80 input
        assert state["linear.weight"].shape == (128, 512) and state["prob.weight"].shape == (3, 128)
    assert not any("se_module" in name for name in v2)
    assert {name.split(".se_module")[0] for name in v1se if "se_module" in name} == {
        "conv_3.model.3",
        "conv_4.model.5",
        "conv_5.model.1",
    }
    assert sum(v.size for k, v in v2.items() if not k.endswith("num_batches_tracked")) == 444_928


@needs_weights
def test_the_sidecar_comes_from_the_files_names_and_records_their_checksums():
    sidecar = json.loads((MODELS / "antispoof.json").read_text())
    by_source = {m["source"]: m for m in sidecar["models"]}
    for source in sources():
        assert by_source[source.path.name]["crop_scale"] == source.crop_scale
        assert sidecar["input_size"] == [source.input_size] * 2
    assert [m["crop_scale"] for m in sidecar["models"]] == [2.7, 4.0]
    assert sidecar["real_class"] == 1 and sidecar["color_order"] == "BGR"


@needs_weights
def test_tflite_matches_the_reference_forward_pass_of_the_pth(samples, spoof):
    rng = np.random.default_rng(1)
    for source, (_, scale) in zip(sources(), spoof.contract.models, strict=True):
        assert source.crop_scale == scale
        crops = [crop_box(image, box, scale, source.input_size) for image, box in samples.values()]
        crops = np.concatenate([np.stack(crops), rng.uniform(0, 255, (4, 80, 80, 3))]).astype(np.float32)
        tflite_file = MODELS / f"antispoof_{source.short_name}.tflite"
        difference = np.abs(tflite_logits(tflite_file, crops) - reference_logits(read_state_dict(source.path), source, crops))
        assert difference.max() < 1e-4, f"{tflite_file.name}: logits differ from the reference by {difference.max():.2g}"


@needs_weights
@pytest.mark.parametrize("name", list(ORIGINAL))
def test_sample_images_get_the_originals_label(samples, spoof, name):
    image, box = samples[name]
    result = spoof.check(image, box)
    assert result.label == ORIGINAL[name][0]
    assert result.is_real == (result.label == "real") and 0.5 <= result.score <= 1.0


@needs_weights
@pytest.mark.parametrize(
    "name",
    [
        "F1",
        pytest.param(
            "F2",
            marks=pytest.mark.xfail(
                strict=True,
                reason="0.97 here against the original's 0.82: both crops are as wide as the 480-pixel image, so only "
                "the box's height and centre move them, and BlazeFace's square box is placed and shaped unlike "
                "the original's RetinaFace box",
            ),
        ),
        "T1",
    ],
)
def test_sample_images_get_the_originals_score(samples, spoof, name):
    image, box = samples[name]
    assert spoof.check(image, box).score == pytest.approx(ORIGINAL[name][1], abs=SCORE_TOLERANCE)


@needs_weights
@pytest.mark.slow
def test_keras_network_matches_the_tflite_file(samples):
    pytest.importorskip("tensorflow", reason="the trainer extra (TensorFlow) is not installed")
    from trainer.minifasnet import build_keras

    for source in sources():
        crops = np.stack([crop_box(image, box, source.crop_scale, 80) for image, box in samples.values()]).astype(np.float32)
        model = build_keras(read_state_dict(source.path), source)
        keras_logits = np.concatenate([model.predict_on_batch(crop[None]) for crop in crops])
        tflite = tflite_logits(MODELS / f"antispoof_{source.short_name}.tflite", crops)
        assert np.abs(keras_logits - tflite).max() < 1e-4


@needs_weights
@pytest.mark.slow
def test_the_import_command_reproduces_the_committed_models(tmp_path):
    pytest.importorskip("tensorflow", reason="the trainer extra (TensorFlow) is not installed")
    from trainer.cli import main

    assert main(["import-minifasnet", "--weights-dir", str(WEIGHTS), "--out", str(tmp_path)]) == 0
    written, committed = (json.loads((d / "antispoof.json").read_text()) for d in (tmp_path, MODELS))
    assert written == committed
    crops = np.random.default_rng(2).uniform(0, 255, (3, 80, 80, 3)).astype(np.float32)
    for entry in committed["models"]:
        np.testing.assert_allclose(
            tflite_logits(tmp_path / entry["file"], crops), tflite_logits(MODELS / entry["file"], crops), atol=1e-6
        )


def test_the_kiosk_side_imports_neither_tensorflow_nor_torch():
    code = "import sys, kiosk.spoof_detector; print(sorted({'tensorflow', 'torch', 'keras'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


# ---- the reader on hand-made files -------------------------------------------------------------------


class _FakeStorage:
    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


class _FakeTensor:
    def __init__(self, storage: _FakeStorage, offset: int, size: tuple, stride: tuple):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


@pytest.fixture
def fake_torch(monkeypatch):
    """Modules named like torch's, so pickle writes the globals a real .pth holds (torch is not installed)."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: only pickled by name")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for kind in ("FloatStorage", "LongStorage"):
        setattr(torch, kind, type(kind, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _state(torch_module):
    """A small state dict: a transposed view (strides), an offset into a shared storage, a 0-d long."""
    weights = _FakeStorage("0", np.arange(12, dtype="<f4"))
    count = _FakeStorage("1", np.array([7], dtype="<i8"))
    state = collections.OrderedDict()
    state["module.a.weight"] = _FakeTensor(weights, 0, (3, 4), (4, 1))
    state["module.a.weight_t"] = _FakeTensor(weights, 0, (4, 3), (1, 4))
    state["module.b.bias"] = _FakeTensor(weights, 8, (4,), (1,))
    state["module.b.num_batches_tracked"] = _FakeTensor(count, 0, (), ())
    kinds = {"0": torch_module.FloatStorage, "1": torch_module.LongStorage}
    return state, [weights, count], kinds


def _pickle_with_storages(obj, kinds, legacy: bool) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)

    def persistent_id(value):
        if isinstance(value, _FakeStorage):
            record = ("storage", kinds[value.key], value.key, "cpu", value.array.size)
            return record + (None,) if legacy else record
        return None

    pickler.persistent_id = persistent_id
    pickler.dump(obj)
    return buffer.getvalue()


def write_legacy(path: Path, torch_module) -> None:
    state, storages, kinds = _state(torch_module)
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(_pickle_with_storages(state, kinds, legacy=True))
    pickle.dump([s.key for s in storages], out, protocol=2)
    for storage in storages:
        out.write(storage.array.size.to_bytes(8, "little") + storage.array.tobytes())
    path.write_bytes(out.getvalue())


def write_zip(path: Path, torch_module) -> None:
    state, storages, kinds = _state(torch_module)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", _pickle_with_storages(state, kinds, legacy=False))
        archive.writestr("model/byteorder", "little")
        for storage in storages:
            archive.writestr(f"model/data/{storage.key}", storage.array.tobytes())


@pytest.mark.parametrize("write", [write_legacy, write_zip], ids=["legacy", "zip"])
def test_both_pytorch_formats_are_read_with_views_offsets_and_prefixes(tmp_path, fake_torch, write, monkeypatch):
    path = tmp_path / "tiny.pth"
    write(path, fake_torch)
    monkeypatch.delitem(sys.modules, "torch")  # the reader must not need torch
    monkeypatch.delitem(sys.modules, "torch._utils")
    state = read_state_dict(path)
    assert list(state) == ["a.weight", "a.weight_t", "b.bias", "b.num_batches_tracked"]
    np.testing.assert_array_equal(state["a.weight"], np.arange(12).reshape(3, 4))
    np.testing.assert_array_equal(state["a.weight_t"], np.arange(12).reshape(3, 4).T)
    np.testing.assert_array_equal(state["b.bias"], [8, 9, 10, 11])
    assert state["b.num_batches_tracked"] == 7 and state["b.num_batches_tracked"].dtype == np.int64


@pytest.mark.parametrize("keep", [5, 60, -30, -1])
def test_a_truncated_file_is_refused_naming_it(tmp_path, fake_torch, keep):
    path = tmp_path / "tiny.pth"
    write_legacy(path, fake_torch)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(TorchFormatError, match="tiny.pth"):
        read_state_dict(path)


@pytest.mark.parametrize("where", [0, 2, 3], ids=["in-the-magic-number", "in-the-header", "in-the-state-dict"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, where):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "hostile.pth"
    out = io.BytesIO()
    pickles = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"conv1.weight": 0}]
    pickles[where] = Payload() if where != 3 else {"conv1.weight": Payload()}
    for value in pickles:
        pickle.dump(value, out, protocol=2)
    path.write_bytes(out.getvalue())
    with pytest.raises(TorchFormatError, match=r"hostile\.pth.*(posix|os)\.system.*refusing"):
        read_state_dict(path)
    assert not marker.exists()


def test_files_that_are_not_pytorch_say_so(tmp_path):
    path = tmp_path / "photo.pth"
    path.write_bytes(b"\xff\xd8\xff\xe0 not a pickle")
    with pytest.raises(TorchFormatError, match="photo.pth: not a PyTorch file"):
        read_state_dict(path)
    with pytest.raises(TorchFormatError, match="missing.pth: file not found"):
        read_state_dict(tmp_path / "missing.pth")


def test_the_original_file_names_give_the_crop_scale_and_variant():
    v2 = SourceModel.parse(Path("2.7_80x80_MiniFASNetV2.pth"))
    v1se = SourceModel.parse(Path("4_0_0_80x80_MiniFASNetV1SE.pth"))
    assert (v2.variant, v2.crop_scale, v2.input_size, v2.short_name) == ("MiniFASNetV2", 2.7, 80, "minifasnet_v2")
    assert (v1se.variant, v1se.crop_scale, v1se.short_name) == ("MiniFASNetV1SE", 4.0, "minifasnet_v1se")
    with pytest.raises(TorchFormatError, match="antispoof.pth: not named like the original's weights"):
        SourceModel.parse(Path("antispoof.pth"))


# ---- the crop ---------------------------------------------------------------------------------------


@pytest.fixture
def frame():
    """200x300 pixels whose values say where they are, so a crop shows where it was cut."""
    y, x = np.mgrid[0:200, 0:300]
    return np.dstack([y % 256, x % 256, (x // 256) * 100]).astype(np.uint8)


def test_the_crop_is_the_box_scaled_about_its_centre(frame):
    # box x 100..119, y 80..99 (20 px), scale 2: 40 px about (110, 90), both ends kept as the original does
    crop = crop_box(frame, (100, 80, 119, 99), 2.0, 41)
    np.testing.assert_array_equal(crop, frame[70:111, 90:131])


def test_a_crop_past_the_edge_is_shifted_inside(frame):
    np.testing.assert_array_equal(crop_box(frame, (0, 0, 19, 19), 2.0, 41), frame[0:41, 0:41])
    np.testing.assert_array_equal(crop_box(frame, (280, 180, 299, 199), 2.0, 41), frame[159:200, 259:300])


def test_the_scale_shrinks_to_what_the_image_holds(frame):
    # a 100 px box cannot grow 4x in a 200 px high image: the scale becomes 199/100 and the crop the full height
    crop = crop_box(frame, (100, 50, 199, 149), 4.0, 200)
    np.testing.assert_array_equal(crop, frame[0:200, 50:250])


def test_an_empty_box_is_refused(frame):
    with pytest.raises(ValueError, match="empty"):
        crop_box(frame, (50, 50, 40, 60), 2.7, 80)


# ---- the sidecar ------------------------------------------------------------------------------------


@pytest.fixture
def sidecar_copy(tmp_path):
    for path in MODELS.glob("antispoof*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / "antispoof.json"


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_the_default_sidecar_loads_both_models(spoof):
    assert spoof.contract.path == default_sidecar_path()
    assert [scale for _, scale in spoof.contract.models] == [2.7, 4.0] and len(spoof.models) == 2
    assert spoof.contract.input_size == 80 and spoof.contract.real_class == 1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("models"), "key 'models' is missing"),
        (lambda d: d["models"][1].pop("crop_scale"), "key 'crop_scale' is missing"),
        (lambda d: d.update(real_class="1"), "key 'real_class' is missing or not a whole number"),
        (lambda d: d.update(format="kiosk-face-embedding/1"), "'format' must be 'kiosk-antispoof/1'"),
        (lambda d: d.update(input_size=[96, 96]), "is not .*antispoof.json's 'input_size'"),
        (lambda d: d["models"][0].update(crop_scale=0), "positive 'crop_scale'"),
    ],
)
def test_a_bad_sidecar_names_the_file_and_the_key(sidecar_copy, change, message):
    _edit(sidecar_copy, change)
    with pytest.raises(SpoofModelError, match=message) as caught:
        SpoofDetector.load(sidecar_copy)
    assert "antispoof" in str(caught.value)


def test_a_missing_sidecar_says_how_to_write_one(tmp_path):
    with pytest.raises(SpoofModelError, match="sidecar missing; write it with 'trainer import-minifasnet --out"):
        SpoofDetector.load(tmp_path / "antispoof.json")


def test_an_rgb_model_gets_its_crop_in_rgb(sidecar_copy, spoof, frame):
    _edit(sidecar_copy, lambda d: d.update(color_order="RGB"))
    rgb = SpoofDetector.load(sidecar_copy)
    box = (100, 60, 179, 139)
    np.testing.assert_allclose(rgb.probabilities(frame, box), spoof.probabilities(frame[..., ::-1].copy(), box), atol=1e-6)


def test_the_verdict_is_the_mean_of_the_softmaxes(spoof, frame):
    box = (100, 60, 179, 139)
    probabilities = spoof.probabilities(frame, box)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    result, mean = spoof.check(frame, box), probabilities.mean(axis=0)
    assert result.score == pytest.approx(mean.max()) and result.real == pytest.approx(mean[1])
    assert result.label == ("real" if mean.argmax() == 1 else "spoof")
