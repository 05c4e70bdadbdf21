"""Passive spoof detection with MiniFASNet V2 and V1SE (minivision-ai's Silent-Face-Anti-Spoofing,
Apache-2.0, see ``models/LICENCE-minifasnet.md``), converted by ``trainer import-minifasnet``.

Each network sees the face box scaled by its ``crop_scale`` (more or less of the surroundings)
and says real or one of two kinds of spoof; as in the original, the softmaxes are added. Its users
report that a steady print or a good screen can pass and that a small shift of the box can flip
the answer: one signal among several, never the only gate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.inference import TFLiteModel

FORMAT = "kiosk-antispoof/1"


class SpoofModelError(ValueError):
    """The spoof models' sidecar or files are missing or inconsistent; the message names the file."""


def default_sidecar_path() -> Path:
    return Path(__file__).resolve().parent / "models" / "antispoof.json"


@dataclass(frozen=True)
class SpoofResult:
    """``real``: mean probability of a real face; ``label``: "real" or "spoof"; ``score``: the winner's mean probability."""

    real: float
    label: str
    score: float

    @property
    def is_real(self) -> bool:
        return self.label == "real"


def crop_box(frame: np.ndarray, box, scale: float, size: int) -> np.ndarray:
    """The original's crop: the box scaled around its centre (no further than the
    image allows), shifted to lie inside the image, resized to ``size``."""
    src_h, src_w = frame.shape[:2]
    # The original's box is (x, y, w, h) in whole pixels, w = right - left + 1.
    x, y, w, h = int(box[0]), int(box[1]), int(box[2] - box[0] + 1), int(box[3] - box[1] + 1)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box {tuple(box)} is empty")
    scale = min((src_h - 1) / h, (src_w - 1) / w, scale)
    cx, cy, half_w, half_h = x + w / 2, y + h / 2, w * scale / 2, h * scale / 2
    left, top, right, bottom = cx - half_w, cy - half_h, cx + half_w, cy + half_h
    if left < 0:
        right, left = right - left, 0
    if top < 0:
        bottom, top = bottom - top, 0
    if right > src_w - 1:
        left, right = left - (right - src_w + 1), src_w - 1
    if bottom > src_h - 1:
        top, bottom = top - (bottom - src_h + 1), src_h - 1
    left, top, right, bottom = int(left), int(top), int(right), int(bottom)
    return cv2.resize(frame[top : bottom + 1, left : right + 1], (size, size))


def _require(data: dict, key: str, kind, where: Path):
    value = data.get(key) if isinstance(data, dict) else None
    if value is None or not isinstance(value, kind) or isinstance(value, bool):
        raise SpoofModelError(f"{where}: key '{key}' is missing or not {_KINDS[kind]} (got {value!r}); {_REWRITE}")
    return value


_KINDS = {list: "a list", dict: "an object", str: "a string", int: "a whole number", (int, float): "a number"}
_REWRITE = "rewrite the sidecar with 'trainer import-minifasnet'"


@dataclass(frozen=True)
class SpoofContract:
    """The sidecar's numbers: input size, colour order, scaling, the real class, and each model's file and crop scale."""

    path: Path
    version: str
    input_size: int
    color_order: str
    mean: float
    std: float
    real_class: int
    models: tuple[tuple[str, float], ...]

    @classmethod
    def load(cls, path: Path) -> SpoofContract:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise SpoofModelError(
                f"{path}: sidecar missing; write it with 'trainer import-minifasnet --out {path.parent}'"
            ) from None
        except json.JSONDecodeError as exc:
            raise SpoofModelError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SpoofModelError(f"{path}: 'format' must be {FORMAT!r}; is this the spoof models' sidecar?")
        size = _require(data, "input_size", list, path)
        if len(size) != 2 or size[0] != size[1] or not isinstance(size[0], int) or size[0] <= 0:
            raise SpoofModelError(f"{path}: 'input_size' must be [n, n], got {size!r}; {_REWRITE}")
        if data.get("color_order") not in ("BGR", "RGB") or data.get("output") != "logits":
            raise SpoofModelError(f"{path}: 'color_order' must be BGR or RGB and 'output' logits; {_REWRITE}")
        norm, entries = _require(data, "normalization", dict, path), _require(data, "models", list, path)
        mean, std = (float(_require(norm, key, (int, float), path)) for key in ("mean", "std"))
        models = tuple((_require(m, "file", str, path), float(_require(m, "crop_scale", (int, float), path))) for m in entries)
        if not models or std <= 0 or any(scale <= 0 for _, scale in models):
            raise SpoofModelError(f"{path}: needs at least one model, a positive 'crop_scale' each and a positive 'std'")
        version, real_class = _require(data, "version", str, path), _require(data, "real_class", int, path)
        return cls(path, version, size[0], data["color_order"], mean, std, real_class, models)


class SpoofDetector:
    """Says whether a detected face is a real one or a photo or screen of one.

    Load it once with :meth:`load` (the sidecar names the models and every number
    they need); :meth:`check` takes a BGR frame and a face box (x1, y1, x2, y2 in
    pixels, as :attr:`kiosk.detection.Detection.box`) and returns a :class:`SpoofResult`.
    """

    def __init__(self, contract: SpoofContract, models: list[TFLiteModel]):
        self.contract, self.models = contract, models

    @classmethod
    def load(cls, sidecar: str | Path | None = None, *, num_threads: int = 1) -> SpoofDetector:
        contract = SpoofContract.load(Path(sidecar) if sidecar else default_sidecar_path())
        models = [TFLiteModel(contract.path.parent / file, num_threads=num_threads) for file, _ in contract.models]
        for model in models:
            if model.input_shape != (1, contract.input_size, contract.input_size, 3):
                raise SpoofModelError(f"{model.path}: input {model.input_shape} is not {contract.path}'s 'input_size'")
        return cls(contract, models)

    def crops(self, frame: np.ndarray, box) -> list[np.ndarray]:
        """Each model's input crop (BGR, uint8), as the original cuts it."""
        return [crop_box(frame, box, scale, self.contract.input_size) for _, scale in self.contract.models]

    def probabilities(self, frame: np.ndarray, box) -> np.ndarray:
        """Each model's softmax, one row per model."""
        c, rows = self.contract, []
        for crop, model in zip(self.crops(frame, box), self.models, strict=True):
            x = crop[..., ::-1] if c.color_order == "RGB" else crop
            logits = model.run(((x.astype(np.float32) - c.mean) / c.std)[None])[0][0]
            e = np.exp(logits - logits.max())
            rows.append(e / e.sum())
        return np.stack(rows)

    def check(self, frame: np.ndarray, box) -> SpoofResult:
        mean = self.probabilities(frame, box).mean(axis=0)  # the original's sum / 2, for any number of models
        label, real = int(np.argmax(mean)), self.contract.real_class
        return SpoofResult(real=float(mean[real]), label="real" if label == real else "spoof", score=float(mean[label]))
