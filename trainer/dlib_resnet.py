"""dlib's face ResNet (the network behind ``face_recognition``) in Keras 3.

The layout follows dlib's ``dnn_face_recognition_ex.cpp``: a 7x7/2 stem, max
pooling, then 29 residual blocks of two 3x3 convolutions, each followed by
dlib's ``affine`` layer (a frozen batch norm: per-channel scale and shift).
Strided convolutions use no padding, as dlib's do; where a downsampling
block's branches differ in size, dlib adds them as if the smaller one were
padded with zeros, which :class:`PadTo` does here. The weights come from
dlib's own file through :mod:`trainer.dlib_dnn`, so the network starts out
computing exactly dlib's descriptor (on dlib's crops).

Input is our one preprocessing, ``trainer.data.normalise`` (``(x - 127.5) / 128``);
dlib's own per-channel input scaling is folded into the stem convolution,
which is exact because that convolution has no padding.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from trainer.dlib_dnn import INPUT_SIZE, LEVELS, DlibResnet
from trainer.model import L2Normalize

STAGE_NAMES = ("level4", "level3", "level2", "level1", "level0")  # input to output, dlib's names


@keras.saving.register_keras_serializable(package="trainer")
class Affine(layers.Layer):
    """dlib's ``affine`` layer: ``x * gamma + beta`` per channel."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, x):
        return x * self.gamma + self.beta


@keras.saving.register_keras_serializable(package="trainer")
class PadTo(layers.Layer):
    """Zero-pad at the bottom, right and in the last channels up to a fixed
    (rows, cols, channels): dlib's ``add_prev`` treats missing elements as zeros."""

    def __init__(self, rows: int, cols: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.rows, self.cols, self.channels = rows, cols, channels

    def call(self, x):
        _, h, w, c = x.shape
        if (h, w, c) == (self.rows, self.cols, self.channels):
            return x
        return ops.pad(x, [[0, 0], [0, self.rows - h], [0, self.cols - w], [0, self.channels - c]])

    def get_config(self):
        return {**super().get_config(), "rows": self.rows, "cols": self.cols, "channels": self.channels}


def _conv(x, filters, size, stride, name):
    # dlib pads stride-1 convolutions by size // 2 and strided ones not at all.
    return layers.Conv2D(filters, size, strides=stride, padding="same" if stride == 1 else "valid", name=name)(x)


def _residual(x, filters: int, down: bool, prefix: str):
    y = _conv(x, filters, 3, 2 if down else 1, f"{prefix}_conv1")
    y = layers.ReLU(name=f"{prefix}_relu1")(Affine(name=f"{prefix}_bn1")(y))
    y = Affine(name=f"{prefix}_bn2")(_conv(y, filters, 3, 1, f"{prefix}_conv2"))
    shortcut = layers.AveragePooling2D(2, 2, padding="valid", name=f"{prefix}_shortcut")(x) if down else x
    rows, cols = max(y.shape[1], shortcut.shape[1]), max(y.shape[2], shortcut.shape[2])
    y = PadTo(rows, cols, filters, name=f"{prefix}_pad")(y)
    shortcut = PadTo(rows, cols, filters, name=f"{prefix}_shortcut_pad")(shortcut)
    return layers.ReLU(name=f"{prefix}_out")(layers.Add(name=f"{prefix}_add")([y, shortcut]))


def build_dlib_resnet(embedding_size: int = 128) -> keras.Model:
    """Normalised 150x150 RGB crop (dlib's chip) -> unit 128-d embedding."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = _conv(inputs, 32, 7, 2, "stem_conv")
    x = layers.ReLU(name="stem_relu")(Affine(name="stem_bn")(x))
    x = layers.MaxPooling2D(3, 2, padding="valid", name="stem_pool")(x)
    # LEVELS lists dlib's levels outermost first; build from the input.
    for name, (filters, blocks, down) in zip(STAGE_NAMES, reversed(LEVELS), strict=True):
        for b in reversed(range(blocks)):  # block blocks-1 is the innermost, so it runs first
            x = _residual(x, filters, down and b == blocks - 1, f"{name}_{b}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(embedding_size, use_bias=False, name="embedding_dense")(x)
    return keras.Model(inputs, L2Normalize(name="embedding")(x), name="dlib_resnet")


def load_dlib_weights(model: keras.Model, net: DlibResnet, pixel_mean: float, pixel_std: float) -> None:
    """Copy the parsed dlib weights into :func:`build_dlib_resnet`'s model,
    checking every shape; dlib's input scaling is folded into the stem."""
    for layer in net.layers:
        if layer.kind == "con":
            kernel = np.transpose(layer.weights["kernel"], (2, 3, 1, 0))  # (out, in, h, w) -> (h, w, in, out)
            bias = layer.weights["bias"].copy()
            if layer.name == "stem_conv":
                # dlib feeds (x - mean_c) / 256; we feed (x - pixel_mean) / pixel_std.
                shift = (pixel_mean - np.asarray(net.input_mean_rgb, np.float32)) / 256.0
                bias = bias + np.einsum("hwio,i->o", kernel, shift)
                kernel = kernel * (pixel_std / 256.0)
            _assign(model.get_layer(layer.name), [kernel, bias])
        elif layer.kind == "affine":
            _assign(model.get_layer(layer.name), [layer.weights["gamma"], layer.weights["beta"]])
        elif layer.kind == "fc":
            _assign(model.get_layer("embedding_dense"), [layer.weights["kernel"]])


def _assign(target: layers.Layer, values: list[np.ndarray]) -> None:
    current = target.get_weights()
    shapes = [w.shape for w in current]
    if shapes != [v.shape for v in values]:
        raise ValueError(f"layer {target.name}: dlib weights have shapes {[v.shape for v in values]}, the Keras layer {shapes}")
    target.set_weights([v.astype(np.float32) for v in values])
