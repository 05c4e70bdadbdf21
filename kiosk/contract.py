"""The model contract: a ``.tflite`` embedding model plus its JSON sidecar.

The sidecar is the single source of every number the kiosk needs to use a
model (input size, colour order, normalisation, embedding size, distance,
threshold). The trainer writes it through :func:`sidecar_dict`;
:func:`load_contract` reads it into a :class:`ModelContract`, whose fields
carry the rules, and words any error with the sidecar file and the key.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasPath, BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

FORMAT = "kiosk-face-embedding/1"
DISTANCES = ("cosine",)
COLOR_ORDERS = ("RGB", "BGR")
# How a detected face becomes the model's input crop; kiosk.alignment implements each.
ALIGNMENTS = ("arcface112", "dlib150")


class ContractError(ValueError):
    """A model or sidecar is missing or inconsistent; the message names the file."""


# JSON object keys are always strings, so a rate key such as "1e-03" is parsed into a number (Strict(False)).
Rate = Annotated[float, Strict(False), Field(gt=0, lt=1)]
Threshold = Annotated[float, Field(gt=0, lt=2)]  # a cosine distance


class ModelContract(BaseModel):
    """Everything the kiosk needs to know to use one embedding model, as its
    sidecar states it. Values are checked strictly ("128" is not a whole
    number); keys the kiosk does not know are ignored, so that a newer trainer
    may record more."""

    # populate_by_name: code may give mean and std by name; the sidecar nests them under "normalization".
    model_config = ConfigDict(frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True, protected_namespaces=())

    model_path: Path
    sidecar_path: Path
    version: str
    input_size: int = Field(gt=0)  # the side of the square crop; the sidecar writes [n, n]
    color_order: Literal[COLOR_ORDERS]
    mean: float = Field(validation_alias=AliasPath("normalization", "mean"))
    std: float = Field(gt=0, validation_alias=AliasPath("normalization", "std"))
    embedding_size: int = Field(gt=0)
    distance: Literal[DISTANCES]
    threshold: Threshold
    alignment: Literal[ALIGNMENTS]
    flip_average: bool = False  # embed the crop and its mirror image, and average
    far_thresholds: dict[Rate, Threshold] = Field(default_factory=dict)  # pair false-accept rate -> threshold
    # The same for the mean of several photos of one face against a single photo of another (what the door judges);
    # averaging pulls a face towards its own centre, where strangers are nearer than the single-pair table says.
    fused_far_thresholds: dict[Rate, Threshold] = Field(default_factory=dict)
    # What each picture of a person beyond the first adds to a stranger's chances of matching them, as a
    # fraction of what the first gives: the pictures of one face are alike, so a stranger near one is often
    # near the others. 1 (each picture a stranger's full chance again) unless measured (trainer calibrate-fused).
    extra_picture_weight: float = Field(1.0, gt=0, le=1)
    quantization: str = "float32"
    metrics: dict[str, Any] = Field(default_factory=dict)

    @field_validator("input_size", mode="before")
    @classmethod
    def _square(cls, size):
        # The sidecar writes [n, n] (crops are square); a bare n, as code may give it, is checked as it is.
        if isinstance(size, list):
            if len(size) != 2 or size[0] != size[1]:
                raise PydanticCustomError("square", "must be [n, n] with n > 0")
            return size[0]
        return size

    @field_validator("far_thresholds", "fused_far_thresholds")
    @classmethod
    def _grows_with_the_rate(cls, table: dict[float, float]) -> dict[float, float]:
        # Accepting more strangers can only mean a looser threshold; anything else is a broken calibration.
        ordered = [table[far] for far in sorted(table)]
        if ordered != sorted(ordered):
            raise PydanticCustomError("far_order", "must grow with the false-accept rate")
        return table


def sidecar_path_for(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def sidecar_dict(
    *,
    version,
    model_file,
    input_size,
    color_order,
    mean,
    std,
    embedding_size,
    distance,
    threshold,
    quantization,
    metrics,
    alignment,
    flip_average=False,
    far_thresholds=None,
    fused_far_thresholds=None,
    extra_picture_weight=1.0,
) -> dict:
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
        "far_thresholds": _table(far_thresholds),
        **({"fused_far_thresholds": _table(fused_far_thresholds)} if fused_far_thresholds else {}),
        **({"extra_picture_weight": extra_picture_weight} if extra_picture_weight != 1.0 else {}),
        "quantization": quantization,
        "metrics": metrics,
    }


def _table(thresholds: dict[float, float] | None) -> dict[str, float]:
    return {f"{far:.0e}": t for far, t in sorted((thresholds or {}).items(), reverse=True)}


def sidecar_of(contract: ModelContract, **changes) -> dict:
    """A contract's sidecar again, with ``changes`` (e.g. a new calibration); written through :func:`sidecar_dict`."""
    fields = dict(
        version=contract.version,
        model_file=contract.model_path.name,
        input_size=contract.input_size,
        color_order=contract.color_order,
        mean=contract.mean,
        std=contract.std,
        embedding_size=contract.embedding_size,
        distance=contract.distance,
        threshold=contract.threshold,
        quantization=contract.quantization,
        metrics=contract.metrics,
        alignment=contract.alignment,
        flip_average=contract.flip_average,
        far_thresholds=contract.far_thresholds,
        fused_far_thresholds=contract.fused_far_thresholds,
        extra_picture_weight=contract.extra_picture_weight,
    )
    return sidecar_dict(**{**fields, **changes})


def load_contract(model_path: str | Path) -> ModelContract:
    """The contract of the model at ``model_path``, from the sidecar beside it."""
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
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{sidecar}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{sidecar}: expected a JSON object")
    # These two say whether the sidecar is for this kiosk and this model at all, so they come first.
    if data.get("format") != FORMAT:
        raise ContractError(f"{sidecar}: 'format' must be {FORMAT!r}, got {data.get('format')!r}")
    model_file = data.get("model_file")
    if model_file is not None and model_file != model_path.name:
        raise ContractError(f"{sidecar}: describes '{model_file}', not '{model_path.name}'")
    try:
        return ModelContract.model_validate({**data, "model_path": model_path, "sidecar_path": sidecar})
    except ValidationError as exc:
        raise ContractError("\n".join(f"{sidecar}: {_describe(error)}" for error in exc.errors())) from None


_KINDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "dict_type": "an object",
}
_BOUNDS = {"greater_than": ("gt", "greater than"), "less_than": ("lt", "less than")}


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as a sentence naming the sidecar's key and what it must be."""
    loc, kind = error["loc"], error["type"]
    if kind == "missing":
        inside = f" in '{'.'.join(map(str, loc[:-1]))}'" if len(loc) > 1 else ""
        return f"missing key '{loc[-1]}'{inside}"
    if loc[0] in ("far_thresholds", "fused_far_thresholds") and len(loc) > 1:
        where = f"'{loc[0]}' {'key' if loc[-1] == '[key]' else 'entry'} {loc[1]!r}"
    else:
        where = "'" + ".".join(map(str, loc)) + "'"
    got = f", got {error['input']!r}"
    if kind in _KINDS:
        return f"{where} must be {_KINDS[kind]}{got}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"{where} must be {words} {error['ctx'][name]:g}{got}"
    if kind == "literal_error":
        return f"{where} must be one of {typing.get_args(ModelContract.model_fields[loc[0]].annotation)}{got}"
    return f"{where} {error['msg']}{got}"
