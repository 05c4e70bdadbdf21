"""The model contract: a ``.tflite`` embedding model plus its JSON sidecar.

The sidecar is the single source of every number the kiosk needs to use a
model (input size, colour order, normalisation, embedding size, distance,
threshold). The trainer writes it; :func:`load_contract` validates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = "kiosk-face-embedding/1"
DISTANCES = ("cosine",)
COLOR_ORDERS = ("RGB", "BGR")
# How a detected face becomes the model's input crop; kiosk.alignment implements each.
ALIGNMENTS = ("arcface112", "dlib150")


class ContractError(ValueError):
    """A model or sidecar is missing or inconsistent; the message names the file."""


@dataclass(frozen=True)
class ModelContract:
    model_path: Path
    sidecar_path: Path
    version: str
    input_size: int
    color_order: str
    mean: float
    std: float
    embedding_size: int
    distance: str
    threshold: float
    alignment: str = "arcface112"
    flip_average: bool = False  # embed the crop and its mirror image, and average
    far_thresholds: dict[float, float] = field(default_factory=dict)  # pair false-accept rate -> threshold
    quantization: str = "float32"
    metrics: dict = field(default_factory=dict)


def sidecar_path_for(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def sidecar_dict(*, version, model_file, input_size, color_order, mean, std, embedding_size, distance, threshold,
                 quantization, metrics, alignment, flip_average=False, far_thresholds=None) -> dict:
    """The sidecar's JSON object; the one place that spells its keys."""
    return {
        "format": FORMAT,
        "version": version,
        "model_file": model_file,
        "input_size": [input_size, input_size],
        "color_order": color_order,
        "normalization": {"mean": mean, "std": std},
        "alignment": alignment,
        "flip_average": bool(flip_average),
        "embedding_size": embedding_size,
        "distance": distance,
        "threshold": threshold,
        "far_thresholds": {f"{far:.0e}": t for far, t in sorted((far_thresholds or {}).items(), reverse=True)},
        "quantization": quantization,
        "metrics": metrics,
    }


def _far_thresholds(data: dict, where: Path) -> dict[float, float]:
    table = data.get("far_thresholds", {})
    if not isinstance(table, dict):
        raise ContractError(f"{where}: 'far_thresholds' must map false-accept rates to thresholds, got {table!r}")
    out = {}
    for key, value in table.items():
        try:
            far = float(key)
        except ValueError:
            raise ContractError(f"{where}: 'far_thresholds' key {key!r} is not a rate such as \"1e-03\"") from None
        if not 0 < far < 1 or isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 2:
            raise ContractError(f"{where}: 'far_thresholds' entry {key!r}: {value!r} must be a rate in (0, 1) and a threshold in (0, 2)")
        out[far] = float(value)
    ordered = [out[f] for f in sorted(out)]
    if ordered != sorted(ordered):
        raise ContractError(f"{where}: 'far_thresholds' must grow with the false-accept rate")
    return out


def _require(data: dict, key: str, kind, where: Path):
    if key not in data:
        raise ContractError(f"{where}: missing key '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ContractError(f"{where}: '{key}' must be {_KIND_NAMES.get(kind, kind)}, got {value!r}")
    return value


_KIND_NAMES = {list: "a list", dict: "an object", str: "a string", int: "a whole number", bool: "true or false",
               (int, float): "a number"}


def load_contract(model_path: str | Path) -> ModelContract:
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ContractError(f"{model_path}: model file not found")
    head = model_path.read_bytes()[:8]
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ContractError(f"{model_path}: not a TFLite flatbuffer (corrupt or wrong file)")
    sidecar = sidecar_path_for(model_path)
    if not sidecar.is_file():
        raise ContractError(f"{sidecar}: sidecar missing; every model needs its JSON sidecar beside it")
    try:
        data = json.loads(sidecar.read_text())
    except json.JSONDecodeError as exc:
        raise ContractError(f"{sidecar}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{sidecar}: expected a JSON object")
    if data.get("format") != FORMAT:
        raise ContractError(f"{sidecar}: 'format' must be {FORMAT!r}, got {data.get('format')!r}")
    size = _require(data, "input_size", list, sidecar)
    if len(size) != 2 or size[0] != size[1] or not all(isinstance(v, int) and v > 0 for v in size):
        raise ContractError(f"{sidecar}: 'input_size' must be [n, n] with n > 0, got {size!r}")
    norm = _require(data, "normalization", dict, sidecar)
    mean = _require(norm, "mean", (int, float), sidecar)
    std = _require(norm, "std", (int, float), sidecar)
    if std <= 0:
        raise ContractError(f"{sidecar}: 'normalization.std' must be positive, got {std}")
    color = _require(data, "color_order", str, sidecar)
    if color not in COLOR_ORDERS:
        raise ContractError(f"{sidecar}: 'color_order' must be one of {COLOR_ORDERS}, got {color!r}")
    distance = _require(data, "distance", str, sidecar)
    if distance not in DISTANCES:
        raise ContractError(f"{sidecar}: 'distance' must be one of {DISTANCES}, got {distance!r}")
    threshold = float(_require(data, "threshold", (int, float), sidecar))
    if not 0 < threshold < 2:
        raise ContractError(f"{sidecar}: 'threshold' must lie between 0 and 2 for cosine distance, got {threshold}")
    embedding_size = _require(data, "embedding_size", int, sidecar)
    if embedding_size <= 0:
        raise ContractError(f"{sidecar}: 'embedding_size' must be positive, got {embedding_size}")
    alignment = _require(data, "alignment", str, sidecar)
    if alignment not in ALIGNMENTS:
        raise ContractError(f"{sidecar}: 'alignment' must be one of {ALIGNMENTS}, got {alignment!r}")
    flip_average = _require(data, "flip_average", bool, sidecar) if "flip_average" in data else False
    model_file = data.get("model_file")
    if model_file is not None and model_file != model_path.name:
        raise ContractError(f"{sidecar}: describes '{model_file}', not '{model_path.name}'")
    return ModelContract(
        model_path=model_path,
        sidecar_path=sidecar,
        version=str(_require(data, "version", str, sidecar)),
        input_size=size[0],
        color_order=color,
        mean=float(mean),
        std=float(std),
        embedding_size=embedding_size,
        distance=distance,
        threshold=threshold,
        alignment=alignment,
        flip_average=flip_average,
        far_thresholds=_far_thresholds(data, sidecar),
        quantization=str(data.get("quantization", "float32")),
        metrics=dict(data.get("metrics") or {}),
    )
