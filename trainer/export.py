"""``trainer export``: Keras weights -> TFLite (fp32, fp16, full int8) with the
model-contract sidecar, the threshold calibrated on held-out people, and an
optional Edge TPU compile step."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.contract import sidecar_dict
from kiosk.embedding import Embedder
from trainer.data import PIXEL_MEAN, PIXEL_STD, normalise
from trainer.embed import embed_tflite, pair_distances
from trainer.metrics import best_threshold, gallery_far, roc_auc, tar_at_far, threshold_for_far

log = logging.getLogger(__name__)

QUANTIZATIONS = ("fp32", "fp16", "int8")
# Integer-only ops the Edge TPU compiler maps; anything else would fall back to the CPU.
EDGETPU_OPS = {
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "L2_NORMALIZATION",
    "LOGISTIC",
    "MAX_POOL_2D",
    "MEAN",
    "MUL",
    "PAD",
    "QUANTIZE",
    "DEQUANTIZE",
    "RELU",
    "RELU6",
    "RESHAPE",
    "SOFTMAX",
    "SUB",
    "SQUEEZE",
}


class ExportError(RuntimeError):
    pass


@dataclass
class ExportConfig:
    run: str  # a fit output folder (config.json + weights)
    out: str
    weights: str = "best.weights.h5"
    quantizations: tuple[str, ...] = QUANTIZATIONS
    far: float = 1e-3  # false-accept rate the sidecar's default threshold is calibrated for
    representative: int = 400  # aligned training crops for int8 calibration
    calibration_mismatches: int = 500_000  # resolves a 1e-5 false-accept rate with 5 impostor pairs
    version: str = ""
    edgetpu: bool = False
    flip_average: bool = False  # the kiosk embeds each crop and its mirror image and averages
    name: str = "face_embedding"  # files are NAME_QUANTIZATION.tflite


def build_keras(run: Path, weights: str):
    """The embedding model of a fit run folder (its config.json) with the named weights."""
    from trainer import backbones

    config_path = run / "config.json"
    if not config_path.is_file():
        raise ExportError(f"{config_path}: missing; expected a folder written by 'trainer fit' or 'trainer import-dlib'")
    config = json.loads(config_path.read_text())
    model = backbones.build(config)
    path = run / weights
    if not path.is_file():
        raise ExportError(f"{path}: weights not found; did 'trainer fit' finish?")
    model.load_weights(path)
    return model, config


def convert(model, quantization: str, representative: np.ndarray | None = None) -> bytes:
    """A static batch-1 graph ending in ``tf.math.l2_normalize``, which the
    converter turns into the int8-capable L2_NORMALIZATION op."""
    import keras
    import tensorflow as tf

    size = model.input_shape[1]
    backbone = keras.Model(model.input, model.get_layer("embedding").input)

    def embed(image):
        return tf.math.l2_normalize(backbone(image, training=False), axis=-1)

    # Through a SavedModel written by Keras' ExportArchive, so the converter
    # sees every weight and freezes it into a constant.
    archive = keras.export.ExportArchive()
    archive.track(backbone)
    archive.add_endpoint("serve", embed, input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
    with tempfile.TemporaryDirectory() as saved:
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        return _configure(converter, quantization, representative).convert()


def _configure(converter, quantization: str, representative: np.ndarray | None):
    import tensorflow as tf

    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if representative is None or not len(representative):
            raise ExportError("int8 export needs representative crops")

        def samples():
            for crop in representative:
                yield [normalise(crop[None])]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif quantization != "fp32":
        raise ExportError(f"unknown quantization {quantization!r}; choose from {', '.join(QUANTIZATIONS)}")
    return converter


def op_names(model_path: Path) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path))
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})


def check_integer_only(model_path: Path) -> None:
    """Every op in EDGETPU_OPS and every activation tensor int8 (biases int32)."""
    from ai_edge_litert.interpreter import Interpreter

    ops = set(op_names(model_path))
    foreign = ops - EDGETPU_OPS
    if foreign:
        raise ExportError(f"{model_path}: ops the Edge TPU cannot run: {', '.join(sorted(foreign))}")
    interpreter = Interpreter(model_path=str(model_path))
    floats = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    if floats:
        raise ExportError(f"{model_path}: float tensors left in an int8 model: {', '.join(floats[:5])}")


def compile_edgetpu(model_path: Path) -> Path:
    compiler = shutil.which("edgetpu_compiler")
    if compiler is None:
        raise ExportError(
            "edgetpu_compiler is not on PATH. It runs on x86-64 Debian/Ubuntu: add the Coral apt "
            "repository (https://coral.ai/docs/edgetpu/compiler/) and 'apt-get install edgetpu-compiler', "
            f"then rerun, or compile {model_path} there by hand."
        )
    subprocess.run([compiler, "-s", "-o", str(model_path.parent), str(model_path)], check=True)
    return model_path.with_name(model_path.stem + "_edgetpu.tflite")


# Pair false-accept rates the sidecar gives thresholds for: the kiosk picks the
# one its gallery size needs (a stranger is compared with everyone).
FAR_TABLE = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
MIN_IMPOSTORS = 5  # a rate is only calibrated where this many impostor pairs fall under it


def far_thresholds(distances: np.ndarray, same: np.ndarray) -> dict[float, float]:
    mismatched = int((~same).sum())
    return {far: threshold_for_far(distances, same, far) for far in FAR_TABLE if far * mismatched >= MIN_IMPOSTORS}


def calibrate(embeddings: np.ndarray, index: dict[str, int], pairs, far: float) -> dict:
    same = np.array([p.same for p in pairs])
    d = pair_distances(embeddings, index, pairs)
    threshold = threshold_for_far(d, same, far)
    return {
        "far_thresholds": far_thresholds(d, same),
        "calibration_pairs": {"matched": int(same.sum()), "mismatched": int((~same).sum())},
        "far_target": far,
        "threshold": threshold,
        "tar_at_threshold": float(np.mean(d[same] <= threshold)),
        "accuracy_threshold": best_threshold(d, same, balanced=True),
        "roc_auc": roc_auc(d, same),
        "tar_at_far_1e-2": tar_at_far(d, same, 1e-2),
        "tar_at_far_1e-3": tar_at_far(d, same, 1e-3),
        "tar_at_far_1e-4": tar_at_far(d, same, 1e-4),
        # A stranger is compared with everyone: the chance that any one comparison
        # falls under the threshold grows with the gallery.
        "stranger_accept_rate_by_gallery_size": {str(n): gallery_far(far, n) for n in (10, 50, 100, 300)},
    }


def calibration_pairs(cache, holdout_rows, mismatches: int, seed: int = 1):
    """Every matched pair of the held-out people plus many distinct random
    mismatches, so small false-accept rates are resolved by several impostor pairs."""
    from trainer.lfw import Pair

    by_person: dict[str, list[int]] = {}
    for r in holdout_rows:
        by_person.setdefault(cache.people[r], []).append(int(r))
    pairs = [
        Pair(cache.paths[v[i]], cache.paths[v[j]], True, 0)
        for v in by_person.values()
        for i in range(len(v))
        for j in range(i + 1, len(v))
    ]
    rows = np.asarray(holdout_rows)
    people = cache.people[rows]
    possible = (len(rows) ** 2 - sum(len(v) ** 2 for v in by_person.values())) // 2
    rng = np.random.default_rng(seed)
    wanted = min(mismatches, possible)
    if 2 * wanted > possible:  # small sets: take from all of them
        i, j = np.triu_indices(len(rows), 1)
        keep = people[i] != people[j]
        pick = rng.choice(int(keep.sum()), wanted, replace=False)
        chosen = list(zip(i[keep][pick], j[keep][pick], strict=True))
    else:
        found: set[tuple[int, int]] = set()
        while len(found) < wanted:
            for a, b in rng.integers(0, len(rows), (2 * (wanted - len(found)), 2)):
                if people[a] != people[b] and len(found) < wanted:
                    found.add((min(a, b), max(a, b)))
        chosen = sorted(found)
    return pairs + [Pair(cache.paths[rows[a]], cache.paths[rows[b]], False, 0) for a, b in chosen]


def run_export(config: ExportConfig, progress: bool = True) -> dict[str, Path]:
    from trainer.data import split_rows
    from trainer.prepare import FaceCache

    run, out = Path(config.run), Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    model, fit_config = build_keras(run, config.weights)
    from trainer.backbones import backbone

    alignment = backbone(fit_config.get("backbone", "mobilefacenet64")).alignment
    cache = FaceCache.load(fit_config["cache"])
    if cache.alignment != alignment:
        raise ExportError(f"{fit_config['cache']}: '{cache.alignment}' crops, but the model needs '{alignment}' crops")
    train_rows, holdout_rows = split_rows(cache, fit_config["train_people"], fit_config["holdout_fraction"])
    if not len(holdout_rows):
        raise ExportError("no held-out people to calibrate the threshold on; set holdout_fraction > 0 when fitting")
    rng = np.random.default_rng(0)
    # Quantization ranges come from training-side faces (an imported model holds everyone out).
    pool = train_rows if len(train_rows) else holdout_rows
    representative = cache.crops[rng.choice(pool, min(config.representative, len(pool)), replace=False)]
    pairs = calibration_pairs(cache, holdout_rows, config.calibration_mismatches)
    holdout_index = {cache.paths[r]: i for i, r in enumerate(holdout_rows)}
    version = config.version or f"{dt.date.today():%Y.%m.%d}-{run.name}"
    written = {}
    for quantization in config.quantizations:
        path = out / f"{config.name}_{quantization}.tflite"
        path.write_bytes(convert(model, quantization, representative))
        if quantization == "int8":
            check_integer_only(path)
        # Provisional sidecar so the kiosk's own loader can run the model for calibration.
        sidecar = dict(version=version, quantization=quantization, alignment=alignment, flip_average=config.flip_average)
        _write_sidecar(path, model, threshold=1.0, metrics={}, **sidecar)
        embedder = Embedder.load(path, num_threads=2)
        embeddings = embed_tflite(embedder, cache.crops[holdout_rows], progress=progress)
        metrics = calibrate(embeddings, holdout_index, pairs, config.far)
        if metrics["threshold"] <= 0:
            raise ExportError(
                f"{path.name}: every held-out face embeds alike (threshold {metrics['threshold']:.2g}); "
                "the model is not discriminative yet: train longer"
            )
        metrics["ops"] = op_names(path)
        metrics["size_bytes"] = path.stat().st_size
        metrics["trained_on"] = Path(fit_config["train_people"]).name
        metrics["calibrated_on"] = f"{len(holdout_index)} faces of people held out of training from {metrics['trained_on']}"
        if fit_config.get("init") and not fit_config.get("epochs"):
            metrics["trained_on"] = f"not by us: imported {fit_config['init']} weights"
        _write_sidecar(
            path,
            model,
            threshold=metrics.pop("threshold"),
            far_thresholds=metrics.pop("far_thresholds"),
            metrics=metrics,
            **sidecar,
        )
        log.info(
            "%s: %.1f kB, threshold %.4f for FAR %.0e, held-out TAR %.3f",
            path.name,
            path.stat().st_size / 1024,
            json.loads(path.with_suffix(".json").read_text())["threshold"],
            config.far,
            metrics["tar_at_threshold"],
        )
        written[quantization] = path
    if config.edgetpu:
        if "int8" not in written:
            raise ExportError("--edgetpu needs the int8 export")
        written["edgetpu"] = compile_edgetpu(written["int8"])
        shutil.copy(written["int8"].with_suffix(".json"), written["edgetpu"].with_suffix(".json"))
        sidecar = json.loads(written["edgetpu"].with_suffix(".json").read_text())
        sidecar["model_file"] = written["edgetpu"].name
        written["edgetpu"].with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    (out / "export-config.json").write_text(
        json.dumps({**config.__dict__, "quantizations": list(config.quantizations)}, indent=2) + "\n"
    )
    return written


def _write_sidecar(
    path: Path,
    model,
    *,
    version: str,
    quantization: str,
    threshold: float,
    metrics: dict,
    alignment: str,
    flip_average: bool = False,
    far_thresholds: dict | None = None,
) -> None:
    data = sidecar_dict(
        version=version,
        model_file=path.name,
        input_size=int(model.input_shape[1]),
        color_order="RGB",
        mean=PIXEL_MEAN,
        std=PIXEL_STD,
        embedding_size=int(model.output_shape[-1]),
        distance="cosine",
        threshold=float(threshold),
        quantization=quantization,
        metrics=metrics,
        alignment=alignment,
        flip_average=flip_average,
        far_thresholds=far_thresholds,
    )
    path.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")


def parity(keras_model, tflite_path: Path, crops: np.ndarray) -> np.ndarray:
    """Cosine similarity between Keras and TFLite embeddings of the same crops."""
    from trainer.embed import embed_keras

    reference = embed_keras(keras_model, crops)
    exported = embed_tflite(Embedder.load(tflite_path), crops, progress=False)
    return np.sum(reference * exported, axis=1)
