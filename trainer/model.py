"""The embedding network: a MobileFaceNet-style backbone ending in an
L2-normalised embedding. Built from stock Keras layers plus one custom layer
written with ``keras.ops`` so it runs on any backend (JAX on the GPU box,
TensorFlow here for export)."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="trainer")
class L2Normalize(layers.Layer):
    """Unit-length rows. The TFLite converter fuses this pattern into its
    L2_NORMALIZATION op, which has an int8 kernel."""

    def call(self, x):
        return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))


def _bn(x, name):
    # Momentum 0.99, not Keras' 0.999: short CPU runs otherwise evaluate with
    # moving statistics that still lag far behind the weights.
    return layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=name)(x)


def _conv(x, filters, kernel, stride, name, act=True):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = _bn(x, name + "_bn")
    return layers.ReLU(name=name + "_relu")(x) if act else x


def _dw(x, stride, name, act=True):
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = _bn(x, name + "_bn")
    return layers.ReLU(name=name + "_relu")(x) if act else x


def _bottleneck(x, filters, stride, expansion, name):
    inp = x
    channels = x.shape[-1]
    x = _conv(x, channels * expansion, 1, 1, name + "_expand")
    x = _dw(x, stride, name + "_dw")
    x = _conv(x, filters, 1, 1, name + "_project", act=False)
    if stride == 1 and channels == filters:
        x = layers.Add(name=name + "_add")([inp, x])
    return x


# (filters, blocks, first stride, expansion) per stage, MobileFaceNet's layout scaled down.
STAGES = ((64, 3, 2, 2), (96, 4, 2, 2), (128, 2, 2, 2))


def build_embedding_model(input_size: int = 96, embedding_size: int = 128, width: int = 32) -> keras.Model:
    """Image (input_size, input_size, 3) normalised to about [-1, 1] -> unit embedding."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = _conv(inputs, width, 3, 2, "stem")
    x = _dw(x, 1, "stem_dw")
    x = _conv(x, width * 2, 1, 1, "stem_pw")
    for s, (filters, blocks, stride, expansion) in enumerate(STAGES):
        for b in range(blocks):
            x = _bottleneck(x, filters, stride if b == 0 else 1, expansion, f"s{s}b{b}")
    x = _conv(x, 256, 1, 1, "head")
    # Global depthwise conv: faces are aligned, so each position gets its own weight
    # instead of being averaged away.
    x = layers.DepthwiseConv2D(x.shape[1], padding="valid", use_bias=False, name="gdc")(x)
    x = _bn(x, "gdc_bn")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.1, name="dropout")(x)
    x = layers.Dense(embedding_size, use_bias=False, name="embedding_dense")(x)
    # Zero-mean features before normalising, so embeddings spread over the
    # sphere instead of crowding around a shared direction.
    x = layers.BatchNormalization(momentum=0.99, center=False, scale=False, name="embedding_bn")(x)
    outputs = L2Normalize(name="embedding")(x)
    return keras.Model(inputs, outputs, name="face_embedding")


def count_macs(model: keras.Model) -> int:
    """Multiply-adds of one forward pass (convolutions and dense layers)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.input.shape[-1] * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


@keras.saving.register_keras_serializable(package="trainer")
class KochHead(layers.Layer):
    """Koch et al.'s Siamese head: weighted L1 distance of two embeddings -> P(same person)."""

    def build(self, input_shape):
        self.dense = layers.Dense(1, activation="sigmoid", name="same_person")
        self.dense.build((None, input_shape[0][-1]))

    def call(self, inputs):
        a, b = inputs
        return self.dense(ops.abs(a - b))


def build_siamese_koch(embedding: keras.Model) -> keras.Model:
    """Two images through one shared embedding network into the Koch head."""
    size = embedding.input_shape[1:]
    a = keras.Input(size, name="image_a")
    b = keras.Input(size, name="image_b")
    p = KochHead(name="koch")([embedding(a), embedding(b)])
    return keras.Model([a, b], p, name="siamese_koch")
