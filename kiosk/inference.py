"""One TFLite interpreter wrapper for every model the kiosk runs.

Prefers ``ai_edge_litert``, falls back to ``tflite_runtime`` and then
``tensorflow.lite`` (the trainer has TensorFlow anyway). Quantized inputs and
outputs are converted here so callers only ever see float32 arrays.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EDGETPU_LIBRARY = "libedgetpu.so.1"

# Module paths that expose ``Interpreter`` and ``load_delegate``, best first.
_BACKENDS = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


class InferenceError(RuntimeError):
    """A model could not be loaded or run; the message names the file."""


def _load_backend():
    errors = []
    for name in _BACKENDS:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if name == "tensorflow.lite":
            return name, module.Interpreter, module.experimental.load_delegate
        return name, module.Interpreter, module.load_delegate
    raise InferenceError(
        "no TFLite interpreter is installed; install 'ai-edge-litert' (pip install ai-edge-litert). Tried: " + "; ".join(errors)
    )


@dataclass(frozen=True)
class _Quant:
    scale: float
    zero_point: int
    dtype: np.dtype

    @classmethod
    def of(cls, detail: dict) -> _Quant | None:
        scale, zero_point = detail["quantization"]
        if detail["dtype"] in (np.int8, np.uint8) and scale:
            return cls(float(scale), int(zero_point), np.dtype(detail["dtype"]))
        return None

    def quantize(self, x: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - self.zero_point) * self.scale


class TFLiteModel:
    """A loaded ``.tflite`` model; load it once and call :meth:`run` per input.

    ``run`` takes float32 arrays in model input order and returns float32
    outputs (dequantized when the model is integer-only).
    """

    def __init__(self, path: str | Path, *, num_threads: int = 1, edgetpu: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise InferenceError(f"{self.path}: model file not found")
        self.backend, interpreter_cls, load_delegate = _load_backend()
        delegates = [_edgetpu_delegate(load_delegate, self.path)] if edgetpu else None
        try:
            with _native_logs_quiet(not log.isEnabledFor(logging.DEBUG)):
                self._interpreter = interpreter_cls(
                    model_path=str(self.path),
                    num_threads=num_threads,
                    experimental_delegates=delegates,
                )
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise InferenceError(f"{self.path}: not a loadable TFLite model ({exc})") from exc
        self.inputs = self._interpreter.get_input_details()
        self.outputs = self._interpreter.get_output_details()
        self._in_quant = [_Quant.of(d) for d in self.inputs]
        self._out_quant = [_Quant.of(d) for d in self.outputs]
        log.info("loaded %s with %s (%d thread(s), edgetpu=%s)", self.path.name, self.backend, num_threads, edgetpu)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.inputs[0]["shape"])

    @property
    def is_quantized(self) -> bool:
        return self._in_quant[0] is not None

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        if len(arrays) != len(self.inputs):
            raise InferenceError(f"{self.path}: expects {len(self.inputs)} input(s), got {len(arrays)}")
        for detail, quant, array in zip(self.inputs, self._in_quant, arrays, strict=True):
            array = np.asarray(array, dtype=np.float32)
            value = quant.quantize(array) if quant else array.astype(detail["dtype"], copy=False)
            self._interpreter.set_tensor(detail["index"], value)
        self._interpreter.invoke()
        results = []
        for detail, quant in zip(self.outputs, self._out_quant, strict=True):
            value = self._interpreter.get_tensor(detail["index"])
            results.append(quant.dequantize(value) if quant else value.astype(np.float32, copy=True))
        return results


@contextlib.contextmanager
def _native_logs_quiet(quiet: bool):
    """LiteRT's C++ code prints "INFO: Created TensorFlow Lite XNNPACK delegate"
    straight to stderr and no setting turns it off; hide stderr meanwhile
    unless debugging (failures still raise, with their message)."""
    if not quiet:
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _edgetpu_delegate(load_delegate, model_path: Path):
    try:
        return load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError, RuntimeError) as exc:
        raise InferenceError(
            f"{model_path}: the Edge TPU was requested but {EDGETPU_LIBRARY} could not be loaded "
            f"or no Coral device was found ({exc}). Install libedgetpu1-std from the Coral apt "
            "repository and plug the accelerator in, or set model.edgetpu = false."
        ) from exc
