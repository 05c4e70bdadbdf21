import json

import pytest

from kiosk.contract import ContractError, load_contract, sidecar_dict
from kiosk.detection import default_model_path


def write_model(tmp_path, **overrides):
    model = tmp_path / "m.tflite"
    model.write_bytes(default_model_path().read_bytes())
    data = sidecar_dict(
        version="t1",
        model_file="m.tflite",
        input_size=64,
        color_order="RGB",
        mean=127.5,
        std=128.0,
        embedding_size=128,
        distance="cosine",
        threshold=0.4,
        quantization="int8",
        metrics={"a": 1},
        alignment="dlib150",
        flip_average=True,
        far_thresholds={1e-3: 0.4, 1e-4: 0.3},
    )
    data.update(overrides)
    (tmp_path / "m.json").write_text(json.dumps(data))
    return model


def test_a_valid_sidecar_loads(tmp_path):
    c = load_contract(write_model(tmp_path))
    assert (c.input_size, c.embedding_size, c.distance, c.threshold, c.version) == (64, 128, "cosine", 0.4, "t1")
    assert (c.alignment, c.flip_average, c.far_thresholds) == ("dlib150", True, {1e-3: 0.4, 1e-4: 0.3})
    assert c.metrics == {"a": 1}


@pytest.mark.parametrize(
    "override,needle",
    [
        ({"distance": "euclidean"}, "'distance'"),
        ({"threshold": 3.0}, "'threshold'"),
        ({"input_size": [64, 32]}, "'input_size'"),
        ({"format": "other/1"}, "'format'"),
        ({"normalization": {"mean": 0}}, "missing key 'std'"),
        ({"embedding_size": "128"}, "'embedding_size'"),
        ({"model_file": "other.tflite"}, "describes 'other.tflite'"),
        ({"color_order": "YUV"}, "'color_order'"),
        ({"alignment": "arcface112-4pt"}, "'alignment' must be one of ('arcface112', 'dlib150')"),
        ({"flip_average": "yes"}, "'flip_average' must be true or false"),
        ({"far_thresholds": {"often": 0.3}}, "'far_thresholds' key 'often'"),
        ({"far_thresholds": {"1e-03": 0.2, "1e-04": 0.3}}, "must grow with the false-accept rate"),
        ({"fused_far_thresholds": {"1e-03": 0.2, "1e-04": 0.3}}, "'fused_far_thresholds' must grow with the false-accept rate"),
        ({"fused_far_thresholds": {"1e-03": 2.5}}, "'fused_far_thresholds' entry"),
        ({"threshold": "0.4"}, "'threshold' must be a number, got '0.4'"),
    ],
)
def test_inconsistent_sidecars_name_the_file_and_problem(tmp_path, override, needle):
    model = write_model(tmp_path, **override)
    with pytest.raises(ContractError) as err:
        load_contract(model)
    assert str(tmp_path / "m.json") in str(err.value) and needle in str(err.value)


def test_missing_sidecar(tmp_path):
    model = write_model(tmp_path)
    (tmp_path / "m.json").unlink()
    with pytest.raises(ContractError, match="sidecar missing"):
        load_contract(model)


def test_sidecar_that_is_not_json(tmp_path):
    model = write_model(tmp_path)
    (tmp_path / "m.json").write_text("{nope")
    with pytest.raises(ContractError, match="not valid JSON"):
        load_contract(model)


def test_corrupt_and_missing_model_files(tmp_path):
    model = write_model(tmp_path)
    model.write_bytes(b"this is not a model at all")
    with pytest.raises(ContractError, match="not a TFLite flatbuffer"):
        load_contract(model)
    with pytest.raises(ContractError, match="model file not found"):
        load_contract(tmp_path / "absent.tflite")


def test_embedder_rejects_a_sidecar_that_does_not_fit_the_model(tmp_path):
    from kiosk.embedding import Embedder

    # The detector model takes 128x128 input, not the 64 the sidecar claims.
    with pytest.raises(ContractError, match="does not match the model's input"):
        Embedder.load(write_model(tmp_path))


def test_a_sidecar_without_an_alignment_is_refused(tmp_path):
    model = write_model(tmp_path)
    data = json.loads((tmp_path / "m.json").read_text())
    del data["alignment"]
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(ContractError, match="missing key 'alignment'"):
        load_contract(model)


@pytest.mark.parametrize(
    "override,message",
    [
        ({"input_size": [0, 0]}, "'input_size' must be greater than 0, got 0"),
        ({"normalization": {"mean": 0, "std": 0}}, "'normalization.std' must be greater than 0, got 0"),
        ({"normalization": {"std": 1}}, "missing key 'mean' in 'normalization'"),
        ({"embedding_size": 0}, "'embedding_size' must be greater than 0, got 0"),
        ({"threshold": 0}, "'threshold' must be greater than 0, got 0"),
        ({"threshold": 2}, "'threshold' must be less than 2, got 2"),
        ({"distance": "euclidean"}, "'distance' must be one of ('cosine',), got 'euclidean'"),
        ({"color_order": "YUV"}, "'color_order' must be one of ('RGB', 'BGR'), got 'YUV'"),
        ({"far_thresholds": {"2": 0.3}}, "'far_thresholds' key '2' must be less than 1, got '2'"),
        ({"far_thresholds": {"1e-03": True}}, "'far_thresholds' entry '1e-03' must be a number, got True"),
        ({"version": 3}, "'version' must be a string, got 3"),
    ],
)
def test_each_rule_is_on_its_field_and_named_in_the_message(tmp_path, override, message):
    with pytest.raises(ContractError) as err:
        load_contract(write_model(tmp_path, **override))
    assert f"{tmp_path / 'm.json'}: {message}" in str(err.value).splitlines()


def test_every_broken_key_is_reported_at_once(tmp_path):
    with pytest.raises(ContractError) as err:
        load_contract(write_model(tmp_path, embedding_size="128", color_order="YUV"))
    assert len(str(err.value).splitlines()) == 2


def test_the_bundled_models_load_unchanged():
    from kiosk.config import BUNDLED_MODELS

    for model in BUNDLED_MODELS.values():
        contract = load_contract(model)
        data = json.loads(model.with_suffix(".json").read_text())
        assert contract.input_size == data["input_size"][0] and contract.threshold == data["threshold"]
        assert contract.far_thresholds == {float(far): t for far, t in data["far_thresholds"].items()}
        assert all(type(far) is float for far in contract.far_thresholds)


def test_a_contract_cannot_change(tmp_path):
    contract = load_contract(write_model(tmp_path))
    with pytest.raises(ValueError):
        contract.threshold = 0.9


def test_a_sidecar_that_is_not_utf8_is_named(tmp_path):
    model = write_model(tmp_path)
    (tmp_path / "m.json").write_bytes(b'{"version": "\xff"}')
    with pytest.raises(ContractError, match=r"m\.json: not valid JSON"):
        load_contract(model)


def test_a_fused_table_round_trips_through_the_one_writer(tmp_path):
    from kiosk.contract import sidecar_of

    contract = load_contract(write_model(tmp_path))
    assert contract.fused_far_thresholds == {}  # sidecars from before fused evidence still load
    (tmp_path / "m.json").write_text(json.dumps(sidecar_of(contract, fused_far_thresholds={1e-3: 0.35, 1e-4: 0.25})))
    again = load_contract(tmp_path / "m.tflite")
    assert again.fused_far_thresholds == {1e-3: 0.35, 1e-4: 0.25}
    assert again.model_dump(exclude={"fused_far_thresholds"}) == contract.model_dump(exclude={"fused_far_thresholds"})


def test_fused_evidence_is_judged_with_the_fused_table():
    from kiosk.config import BUNDLED_MODEL, RecognitionSettings
    from kiosk.recognition import decision_thresholds

    contract = load_contract(BUNDLED_MODEL)
    single = decision_thresholds(contract, 50, RecognitionSettings())
    fused = decision_thresholds(contract, 50, RecognitionSettings(), fused=True)
    assert contract.fused_far_thresholds and fused.good < single.good and fused.fair < single.fair
    assert decision_thresholds(contract, 50, RecognitionSettings(), override=0.05, fused=True).good == 0.05
