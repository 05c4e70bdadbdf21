"""MiniFASNet, the passive spoof detector of minivision-ai's Silent-Face-Anti-Spoofing
(Apache-2.0, see ``kiosk/models/LICENCE-minifasnet.md``), read from its PyTorch
weights without PyTorch and converted to fp32 TFLite for the kiosk.

Reading: a ``.pth`` file is a pickle of a state dict whose tensors point, by
"persistent id", into storages kept outside the pickle: in the legacy format
(what these files are) the raw storages follow the pickles in the same file;
in the zip format (torch >= 1.6) each storage is a member ``<name>/data/<key>``.
:class:`_Unpickler` resolves only the few globals a state dict of tensors
needs and refuses every other one, so no code from the file is ever run.

The network: no code comes with the weights, so :func:`_network` walks the
architecture of the original ``MiniFASNet.py`` (a 3x3/2 stem, a depthwise
stem, three downsampling depthwise blocks with residual stages of 4, 6 and 2
blocks between them, a 1x1 and a global depthwise convolution, then linear,
batch norm and the 3-way classifier) and takes each tensor by its name,
checking its shape against the channels flowing in. Channel counts come from
the shapes (V1 and V2 differ only there), squeeze-excitation from the names
(the ``SE`` variants put one in each stage's last block), strides and padding
from the original code, batch-norm epsilon from PyTorch's default (1e-5, not
stored). The same walk drives two implementations: Keras (NHWC, for the
converter) and a float64 numpy reference in PyTorch's own NCHW layout, which
checks the conversion without sharing any layout code with it.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import logging
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

INPUT_SIZE = 80
BN_EPSILON = 1e-5  # PyTorch's BatchNorm default; the state dict does not store it
REAL_CLASS = 1  # the original's label 1 is a real face; 0 and 2 are two kinds of spoof
SIDECAR = "antispoof.json"
SIDECAR_FORMAT = "kiosk-antispoof/1"
DEFAULT_VERSION = "minifasnet-b6d5f04-fp32"
# The upstream files this converter was written against (README of shared/models/minifasnet).
KNOWN_SHA256 = {
    "2.7_80x80_MiniFASNetV2.pth": "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0",
    "4_0_0_80x80_MiniFASNetV1SE.pth": "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990",
}
VARIANTS = ("MiniFASNetV1", "MiniFASNetV2", "MiniFASNetV1SE", "MiniFASNetV2SE")
# (name, residual blocks): 0 marks a downsampling depthwise block between stages.
STAGES = (("conv_23", 0), ("conv_3", 4), ("conv_34", 0), ("conv_4", 6), ("conv_45", 0), ("conv_5", 2))


class TorchFormatError(ValueError):
    """The file is not the PyTorch state dict we expect; the message names the file."""


# --- reading a .pth without torch -------------------------------------------------------------

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    # _rebuild_tensor_v2 also passes requires_grad and backward hooks (and metadata): not needed for weights.
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_ignored):
    return data


class _Unpickler(pickle.Unpickler):
    """Resolves only what a state dict of tensors refers to; anything else is refused."""

    _GLOBALS = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file, path: Path, storages: dict[str, _Storage]):
        super().__init__(file)
        self.path, self.storages = path, storages

    def find_class(self, module, name):
        if (module, name) in self._GLOBALS:
            return self._GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise TorchFormatError(
            f"{self.path}: the pickle refers to {module}.{name}, which a plain state dict of "
            "tensors never does; refusing to load it (re-save it with torch.save(model.state_dict()))"
        )

    def persistent_load(self, pid):
        # legacy: ('storage', type, key, location, numel, view_metadata); zip: ('storage', type, key, location, numel)
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage" or len(pid) not in (5, 6):
            raise TorchFormatError(f"{self.path}: unexpected persistent record {pid!r}")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        if len(pid) == 6 and pid[5] is not None:
            raise TorchFormatError(f"{self.path}: storage {key} is a view of another storage, which this reader does not handle")
        if kind not in _STORAGE_DTYPES:
            raise TorchFormatError(f"{self.path}: storage {key} has unknown type {kind!r}")
        storage = self.storages.setdefault(key, _Storage(key, np.dtype(_STORAGE_DTYPES[kind]), numel))
        if storage.numel != numel or storage.dtype != np.dtype(_STORAGE_DTYPES[kind]):
            raise TorchFormatError(f"{self.path}: storage {key} is described two different ways")
        return storage


def _read_legacy(data: bytes, path: Path) -> tuple[dict, dict[str, _Storage]]:
    f = io.BytesIO(data)
    storages: dict[str, _Storage] = {}
    # Every pickle in the file, the headers too, goes through the restricted unpickler.
    load = _Unpickler(f, path, storages).load
    try:
        magic, protocol, sys_info = load(), load(), load()
    except TorchFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here means "not this format"
        raise TorchFormatError(f"{path}: not a PyTorch file (neither a zip archive nor the legacy pickle format: {exc})") from exc
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
        raise TorchFormatError(f"{path}: not a PyTorch legacy file (magic {magic!r}, protocol {protocol!r})")
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise TorchFormatError(f"{path}: written on a big-endian machine ({sys_info!r}); re-save it on a little-endian one")
    state, keys = load(), load()
    if sorted(map(str, keys)) != sorted(storages):
        raise TorchFormatError(f"{path}: the storage list does not match the tensors' storages")
    for key in map(str, keys):
        storage = storages[key]
        numel = int.from_bytes(f.read(8), "little")  # each raw storage: int64 element count, then the elements
        if numel != storage.numel:
            raise TorchFormatError(f"{path}: storage {key} holds {numel} elements, the pickle says {storage.numel}")
        raw = f.read(numel * storage.dtype.itemsize)
        if len(raw) != numel * storage.dtype.itemsize:
            raise TorchFormatError(f"{path}: file ends inside storage {key} (truncated download?)")
        storage.data = np.frombuffer(raw, storage.dtype)
    if f.tell() != len(data):
        raise TorchFormatError(f"{path}: {len(data) - f.tell()} unexpected bytes after the last storage")
    return state, storages


def _read_zip(path: Path) -> tuple[dict, dict[str, _Storage]]:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise TorchFormatError(f"{path}: a zip archive but not a PyTorch one (no single '<name>/data.pkl' member)")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"  # absent in files from before torch 1.10: little-endian
        if byteorder in archive.namelist() and archive.read(byteorder).decode().strip() != "little":
            raise TorchFormatError(f"{path}: big-endian storages; re-save it on a little-endian machine")
        storages: dict[str, _Storage] = {}
        state = _Unpickler(io.BytesIO(archive.read(pickles[0])), path, storages).load()
        for key, storage in storages.items():
            member = f"{prefix}data/{key}"
            try:
                raw = archive.read(member)
            except KeyError:
                raise TorchFormatError(f"{path}: storage member {member} is missing") from None
            if len(raw) != storage.numel * storage.dtype.itemsize:
                raise TorchFormatError(f"{path}: {member} has {len(raw)} bytes, expected {storage.numel} x {storage.dtype}")
            storage.data = np.frombuffer(raw, storage.dtype)
    return state, storages


def _materialise(ref: _TensorRef, name: str, path: Path) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise TorchFormatError(f"{path}: tensor {name}: its storage {ref.storage.key} was never read")
    if (
        ref.size
        and max(((s - 1) * st for s, st in zip(ref.size, ref.stride, strict=True) if s), default=0) + ref.offset >= data.size
    ):
        raise TorchFormatError(f"{path}: tensor {name} {ref.size} reaches past its storage of {data.size} elements")
    if not ref.size:
        return np.array(data[ref.offset])
    view = np.lib.stride_tricks.as_strided(data[ref.offset :], ref.size, [s * data.itemsize for s in ref.stride], writeable=False)
    return np.array(view)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A ``.pth`` state dict (legacy or zip format) as numpy arrays, ``module.`` prefixes removed."""
    path = Path(path)
    if not path.is_file():
        raise TorchFormatError(f"{path}: file not found")
    try:
        state, _ = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path.read_bytes(), path)
    except TorchFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged pickle or archive fails in many ways; all mean the same
        raise TorchFormatError(f"{path}: damaged or truncated ({type(exc).__name__}: {exc}); download it again") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # training checkpoints wrap the state dict
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise TorchFormatError(f"{path}: expected a state dict (names -> tensors), got {type(state).__name__}")
    # DataParallel saves every name under 'module.'; the original strips it the same way.
    return {re.sub(r"^module\.", "", name): _materialise(ref, name, path) for name, ref in state.items()}


# --- the network ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceModel:
    """What the original reads from a weights file's name: ``2.7_80x80_MiniFASNetV2.pth``
    is a MiniFASNetV2 for 80x80 crops of the face box scaled by 2.7."""

    path: Path
    variant: str
    input_size: int
    crop_scale: float

    @property
    def short_name(self) -> str:
        return self.variant.lower().replace("minifasnet", "minifasnet_")

    @classmethod
    def parse(cls, path: Path) -> SourceModel:
        # Mirrors the original's parse_model_name: '<scale>[_<shift_x>_<shift_y>]_<h>x<w>_<variant>.pth'.
        parts = path.name.removesuffix(".pth").split("_")
        match = re.fullmatch(r"(\d+)x(\d+)", parts[-2]) if len(parts) >= 3 else None
        if path.suffix != ".pth" or match is None or parts[-1] not in VARIANTS:
            raise TorchFormatError(
                f"{path}: not named like the original's weights ('2.7_80x80_MiniFASNetV2.pth': "
                f"scale, input size and one of {', '.join(VARIANTS)}); rename it so"
            )
        h, w = int(match[1]), int(match[2])
        if h != w or parts[0] == "org":
            raise TorchFormatError(f"{path}: only square crops of a scaled face box are supported, not {parts[0]} {h}x{w}")
        return cls(path, parts[-1], h, float(parts[0]))


class _Params:
    """The state dict handed out by name, each shape checked; remembers what was used."""

    def __init__(self, tensors: dict[str, np.ndarray], source: Path):
        self.tensors, self.source, self.used = tensors, source, set()

    def take(self, name: str, shape: tuple) -> np.ndarray:
        if name not in self.tensors:
            raise TorchFormatError(f"{self.source}: no tensor {name!r}; not a MiniFASNet state dict (or another variant)")
        value = self.tensors[name]
        if len(value.shape) != len(shape) or any(e is not None and e != v for e, v in zip(shape, value.shape, strict=True)):
            raise TorchFormatError(f"{self.source}: {name} has shape {value.shape}, expected {shape} (None = any)")
        self.used.add(name)
        return value.astype(np.float32)

    def has(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.tensors)

    def check_all_used(self) -> None:
        left = sorted(n for n in set(self.tensors) - self.used if not n.endswith("num_batches_tracked"))
        if left:
            raise TorchFormatError(
                f"{self.source}: {len(left)} tensors the network does not use, e.g. {left[:3]}; "
                "not the MiniFASNet layout this converter knows"
            )


def _batch_norm(p, ops, x, name, c):
    return ops.batch_norm(x, *(p.take(f"{name}.{k}", (c,)) for k in ("weight", "bias", "running_mean", "running_var")), name)


def _conv_bn(p, ops, x, name, c_in, *, kernel, stride=1, pad=0, depthwise=False, prelu=True):
    """Conv_block (conv, batch norm, PReLU) or Linear_block (no PReLU) of the original; convolutions have no bias."""
    w = p.take(f"{name}.conv.weight", (None, 1 if depthwise else c_in, kernel, kernel))
    c_out = w.shape[0]
    if depthwise and c_out != c_in:
        raise TorchFormatError(f"{p.source}: {name} is depthwise but maps {c_in} channels to {c_out}")
    x = ops.conv(x, w, stride, pad, depthwise, name)
    x = _batch_norm(p, ops, x, f"{name}.bn", c_out)
    if prelu:
        x = ops.prelu(x, p.take(f"{name}.prelu.weight", (c_out,)), name)
    return x, c_out


def _squeeze_excite(p, ops, x, name, c):
    s = ops.mean(x, name)
    reduced = p.take(f"{name}.fc1.weight", (None, c, 1, 1))
    r = reduced.shape[0]
    s = ops.conv(s, reduced, 1, 0, False, f"{name}.fc1")
    s = ops.relu(_batch_norm(p, ops, s, f"{name}.bn1", r), name)
    s = ops.conv(s, p.take(f"{name}.fc2.weight", (c, r, 1, 1)), 1, 0, False, f"{name}.fc2")
    s = ops.sigmoid(_batch_norm(p, ops, s, f"{name}.bn2", c), name)
    return ops.mul(x, s, name)


def _depth_wise(p, ops, x, name, c_in, *, stride, residual):
    """Depth_Wise / Depth_Wise_SE: 1x1 expand (PReLU), 3x3 depthwise (PReLU), 1x1 project."""
    y, c = _conv_bn(p, ops, x, f"{name}.conv", c_in, kernel=1)
    y, c = _conv_bn(p, ops, y, f"{name}.conv_dw", c, kernel=3, stride=stride, pad=1, depthwise=True)
    y, c = _conv_bn(p, ops, y, f"{name}.project", c, kernel=1, prelu=False)
    if not residual:
        return y, c
    if c != c_in:
        raise TorchFormatError(f"{p.source}: residual block {name} maps {c_in} channels to {c}")
    if p.has(f"{name}.se_module."):  # the SE variants' last block of a stage; the original applies it only with a residual
        y = _squeeze_excite(p, ops, y, f"{name}.se_module", c)
    return ops.add(x, y, name), c


def _network(p: _Params, ops, x, model: SourceModel):
    """MiniFASNet's forward pass in ``ops``' primitives, checking the state dict on the way."""
    x, c = _conv_bn(p, ops, x, "conv1", 3, kernel=3, stride=2, pad=1)
    x, c = _conv_bn(p, ops, x, "conv2_dw", c, kernel=3, pad=1, depthwise=True)
    size = model.input_size // 2
    for stage, blocks in STAGES:
        if not blocks:
            x, c = _depth_wise(p, ops, x, stage, c, stride=2, residual=False)
            size = (size + 1) // 2
            continue
        found = sum(1 for i in range(blocks + 1) if p.has(f"{stage}.model.{i}."))
        if found != blocks:
            raise TorchFormatError(f"{p.source}: {stage} has {found} blocks, MiniFASNet has {blocks}")
        se = p.has(f"{stage}.model.{blocks - 1}.se_module.")
        if se != model.variant.endswith("SE"):
            raise TorchFormatError(f"{p.source}: named {model.variant} but {stage} {'has' if se else 'lacks'} squeeze-excitation")
        for i in range(blocks):
            x, c = _depth_wise(p, ops, x, f"{stage}.model.{i}", c, stride=1, residual=True)
    x, c = _conv_bn(p, ops, x, "conv_6_sep", c, kernel=1)
    # The global depthwise convolution covers the whole remaining map, so what is
    # flattened is 1x1xC: NCHW and NHWC flatten to the same order.
    x, c = _conv_bn(p, ops, x, "conv_6_dw", c, kernel=size, depthwise=True, prelu=False)
    x = ops.flatten(x, "flatten")
    if p.has("linear."):  # the original skips it when the embedding is 512 wide
        linear = p.take("linear.weight", (None, c))
        x, c = ops.dense(x, linear, "linear"), linear.shape[0]
    x = _batch_norm(p, ops, x, "bn", c)
    logits = ops.dense(x, p.take("prob.weight", (3, c)), "prob")  # dropout is off at inference
    p.check_all_used()
    return logits


class _NumpyOps:
    """PyTorch's semantics in NCHW float64: the reference the converted model is checked against."""

    @staticmethod
    def conv(x, w, stride, pad, depthwise, name):
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        k = w.shape[2]
        rows, cols = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
        out = np.zeros((x.shape[0], w.shape[0], rows, cols))
        for i in range(k):
            for j in range(k):
                patch = x[:, :, i : i + stride * rows : stride, j : j + stride * cols : stride]
                if depthwise:
                    out += patch * w[None, :, 0, i, j, None, None]
                else:
                    out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j].astype(np.float64))
        return out

    @staticmethod
    def batch_norm(x, gamma, beta, mean, var, name):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPSILON)
        return (x - mean.reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)

    @staticmethod
    def prelu(x, alpha, name):
        return np.where(x >= 0, x, x * alpha.reshape(1, -1, 1, 1))

    relu = staticmethod(lambda x, name: np.maximum(x, 0))
    sigmoid = staticmethod(lambda x, name: 1 / (1 + np.exp(-x)))
    mean = staticmethod(lambda x, name: x.mean(axis=(2, 3), keepdims=True))
    mul = staticmethod(lambda x, s, name: x * s)
    add = staticmethod(lambda x, y, name: x + y)
    flatten = staticmethod(lambda x, name: x.reshape(x.shape[0], -1))  # PyTorch's view(N, -1) on NCHW
    dense = staticmethod(lambda x, w, name: x @ w.T.astype(np.float64))


def reference_logits(state: dict[str, np.ndarray], model: SourceModel, crops_bgr: np.ndarray) -> np.ndarray:
    """The original network's logits for (N, size, size, 3) raw BGR crops, in float64 numpy."""
    x = np.transpose(np.asarray(crops_bgr, np.float64), (0, 3, 1, 2))  # the original's ToTensor: HWC -> CHW, no scaling
    return _network(_Params(state, model.path), _NumpyOps, x, model)


class _KerasOps:
    """Keras 3 layers in NHWC; each layer is built on the spot and given its weights."""

    @staticmethod
    def _layer(layer, x, weights):
        y = layer(x)
        shapes = [w.shape for w in layer.get_weights()]
        if shapes != [w.shape for w in weights]:
            raise TorchFormatError(
                f"layer {layer.name}: weights of shapes {[w.shape for w in weights]}, the Keras layer has {shapes}"
            )
        layer.set_weights([w.astype(np.float32) for w in weights])
        return y

    @classmethod
    def conv(cls, x, w, stride, pad, depthwise, name):
        from keras import layers

        name = name.replace(".", "_")
        if pad:  # PyTorch pads both sides; Keras 'same' would pad only bottom/right on a strided even input
            x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        k = w.shape[2]
        if depthwise:  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            layer = layers.DepthwiseConv2D(k, strides=stride, padding="valid", use_bias=False, name=name)
            return cls._layer(layer, x, [np.transpose(w, (2, 3, 0, 1))])
        layer = layers.Conv2D(w.shape[0], k, strides=stride, padding="valid", use_bias=False, name=name)
        return cls._layer(layer, x, [np.transpose(w, (2, 3, 1, 0))])  # (out, in, kh, kw) -> (kh, kw, in, out)

    @classmethod
    def batch_norm(cls, x, gamma, beta, mean, var, name):
        from keras import layers

        layer = layers.BatchNormalization(epsilon=BN_EPSILON, name=name.replace(".", "_"))
        return cls._layer(layer, x, [gamma, beta, mean, var])

    @classmethod
    def prelu(cls, x, alpha, name):
        from keras import layers

        layer = layers.PReLU(shared_axes=[1, 2], name=f"{name.replace('.', '_')}_prelu")
        return cls._layer(layer, x, [alpha.reshape(1, 1, -1)])

    @classmethod
    def dense(cls, x, w, name):
        from keras import layers

        return cls._layer(layers.Dense(w.shape[0], use_bias=False, name=name), x, [w.T])

    @staticmethod
    def relu(x, name):
        from keras import layers

        return layers.ReLU(name=f"{name.replace('.', '_')}_relu")(x)

    @staticmethod
    def sigmoid(x, name):
        from keras import layers

        return layers.Activation("sigmoid", name=f"{name.replace('.', '_')}_sigmoid")(x)

    @staticmethod
    def mean(x, name):
        from keras import layers

        return layers.GlobalAveragePooling2D(keepdims=True, name=f"{name.replace('.', '_')}_pool")(x)

    @staticmethod
    def mul(x, s, name):
        from keras import layers

        return layers.Multiply(name=f"{name.replace('.', '_')}_scale")([x, s])

    @staticmethod
    def add(x, y, name):
        from keras import layers

        return layers.Add(name=f"{name.replace('.', '_')}_add")([x, y])

    @staticmethod
    def flatten(x, name):
        from keras import layers

        return layers.Flatten(name=name)(x)


def build_keras(state: dict[str, np.ndarray], model: SourceModel):
    """The network as a Keras model with the weights loaded: (1, size, size, 3) raw BGR -> 3 logits."""
    import keras

    inputs = keras.Input((model.input_size, model.input_size, 3), batch_size=1, name="image")
    logits = _network(_Params(state, model.path), _KerasOps, inputs, model)
    return keras.Model(inputs, logits, name=model.short_name)


# --- conversion -------------------------------------------------------------------------------------


def convert_fp32(keras_model) -> bytes:
    """fp32 TFLite through a SavedModel (the way trainer.export converts), batch 1."""
    import tempfile

    import keras
    import tensorflow as tf

    size = keras_model.input_shape[1]
    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    archive.add_endpoint(
        "serve",
        lambda image: keras_model(image, training=False),
        input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")],
    )
    with tempfile.TemporaryDirectory() as saved:
        archive.write_out(saved, verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(saved).convert()


def tflite_logits(path: Path, crops_bgr: np.ndarray) -> np.ndarray:
    """Logits from the converted file, run by the kiosk's own interpreter wrapper."""
    from kiosk.inference import TFLiteModel

    model = TFLiteModel(path)
    return np.concatenate([model.run(crop[None].astype(np.float32))[0] for crop in crops_bgr])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_weights(weights_dir: Path) -> list[SourceModel]:
    if not weights_dir.is_dir():
        raise TorchFormatError(f"{weights_dir}: not a folder; pass the folder holding the MiniFASNet .pth files")
    models = [SourceModel.parse(p) for p in sorted(weights_dir.glob("*.pth"))]
    if not models:
        raise TorchFormatError(f"{weights_dir}: no .pth files; expected e.g. {', '.join(KNOWN_SHA256)}")
    return models


def import_minifasnet(
    weights_dir: Path, out: Path, *, version: str = DEFAULT_VERSION, samples: int = 8, tolerance: float = 1e-3
) -> dict[str, Path]:
    """Convert every MiniFASNet ``.pth`` in ``weights_dir`` to ``antispoof_<variant>.tflite``
    in ``out`` plus one sidecar; each file is checked against the numpy reference first."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sources = find_weights(weights_dir)
    sizes = {source.input_size for source in sources}
    if len(sizes) != 1:
        raise TorchFormatError(f"{weights_dir}: models for different input sizes {sorted(sizes)}; keep one size per folder")
    written, entries = {}, []
    for source in sources:
        digest = sha256(source.path)
        if KNOWN_SHA256.get(source.path.name, digest) != digest:
            log.warning(
                "%s: sha256 %s differs from the upstream file's %s; converting it anyway",
                source.path,
                digest,
                KNOWN_SHA256[source.path.name],
            )
        state = read_state_dict(source.path)
        target = out / f"antispoof_{source.short_name}.tflite"
        target.write_bytes(convert_fp32(build_keras(state, source)))
        crops = rng.uniform(0, 255, (samples, source.input_size, source.input_size, 3)).astype(np.float32)
        difference = float(np.max(np.abs(tflite_logits(target, crops) - reference_logits(state, source, crops))))
        if difference > tolerance:
            raise RuntimeError(
                f"{target}: logits differ from the reference forward pass of {source.path} by "
                f"{difference:.2g} (> {tolerance}); the conversion is wrong, do not ship it"
            )
        log.info("%s: %.1f kB, max logit difference to the reference %.2g", target.name, target.stat().st_size / 1024, difference)
        entries.append(
            {
                "file": target.name,
                "variant": source.variant,
                "crop_scale": source.crop_scale,
                "source": source.path.name,
                "source_sha256": digest,
                "max_abs_logit_difference": difference,
            }
        )
        written[source.short_name] = target
    sidecar = {
        "format": SIDECAR_FORMAT,
        "version": version,
        "input_size": [sizes.pop()] * 2,
        "color_order": "BGR",
        "normalization": {"mean": 0.0, "std": 1.0},  # raw 0-255 pixel values
        "output": "logits",
        "real_class": REAL_CLASS,
        "combine": "sum of the models' softmax; the label is its argmax, the score its value / number of models",
        "models": entries,
        "quantization": "float32",
        "licence": "Apache-2.0; see LICENCE-minifasnet.md",
    }
    written["sidecar"] = out / SIDECAR
    written["sidecar"].write_text(json.dumps(sidecar, indent=2) + "\n")
    return written
