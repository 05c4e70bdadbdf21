"""Siamese losses over a batch of unit embeddings, written with ``keras.ops``.

Distances are cosine distances, ``1 - cos``, the one measure the kiosk uses.
Each loss takes labels (B,) and embeddings (B, D) and returns a scalar.
"""

from __future__ import annotations

import functools

from keras import ops


def pairwise_cosine_distance(embeddings):
    return 1.0 - ops.matmul(embeddings, ops.transpose(embeddings))


def _masks(labels):
    labels = ops.reshape(labels, (-1, 1))
    same = ops.cast(ops.equal(labels, ops.transpose(labels)), "float32")
    eye = ops.eye(ops.shape(same)[0], dtype="float32")
    return same - eye, 1.0 - same  # positives without self, negatives


def triplet_semihard_loss(labels, embeddings, margin: float = 0.2):
    """FaceNet's online semi-hard mining: for every anchor-positive pair, the
    closest negative that is still farther than the positive; where none is,
    the farthest negative (so easy batches still give a gradient)."""
    d = pairwise_cosine_distance(embeddings)
    positive, negative = _masks(labels)
    d_ap = ops.expand_dims(d, 2)  # [a, p, 1]
    d_an = ops.expand_dims(d, 1)  # [a, 1, n]
    semihard = ops.expand_dims(negative, 1) * ops.cast(ops.greater(d_an, d_ap), "float32")
    big = 1e9
    hardest_semihard = ops.min(d_an + big * (1.0 - semihard), axis=2)
    farthest_negative = ops.max(d * negative - big * (1.0 - negative), axis=1, keepdims=True)
    has_semihard = ops.greater(ops.sum(semihard, axis=2), 0)
    chosen = ops.where(has_semihard, hardest_semihard, farthest_negative)
    losses = ops.maximum(d - chosen + margin, 0.0) * positive
    return ops.sum(losses) / ops.maximum(ops.sum(positive), 1.0)


def triplet_hard_loss(labels, embeddings, margin: float = 0.2):
    """Batch-hard mining: each anchor's farthest positive against its closest negative."""
    d = pairwise_cosine_distance(embeddings)
    positive, negative = _masks(labels)
    hardest_positive = ops.max(d * positive, axis=1)
    hardest_negative = ops.min(d + 1e9 * (1.0 - negative), axis=1)
    valid = ops.cast(ops.greater(ops.sum(positive, axis=1), 0), "float32")
    losses = ops.maximum(hardest_positive - hardest_negative + margin, 0.0) * valid
    return ops.sum(losses) / ops.maximum(ops.sum(valid), 1.0)


def contrastive_loss(labels, embeddings, margin: float = 0.5):
    """Hadsell et al. over every pair in the batch: pull matches together,
    push non-matches beyond ``margin`` (in cosine distance)."""
    d = pairwise_cosine_distance(embeddings)
    positive, negative = _masks(labels)
    pull = ops.sum(ops.square(d) * positive) / ops.maximum(ops.sum(positive), 1.0)
    push = ops.sum(ops.square(ops.maximum(margin - d, 0.0)) * negative) / ops.maximum(ops.sum(negative), 1.0)
    return pull + push


def distillation_loss(teacher, embeddings):
    """Mean cosine distance to the teacher's unit descriptors."""
    return ops.mean(1.0 - ops.sum(teacher * embeddings, axis=-1))


def koch_bce(pair_labels, probabilities):
    """Koch et al.'s Siamese objective: binary cross-entropy on the
    same/different probability from the sigmoid head."""
    p = ops.clip(ops.reshape(probabilities, (-1,)), 1e-7, 1.0 - 1e-7)
    y = ops.cast(ops.reshape(pair_labels, (-1,)), "float32")
    return -ops.mean(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))


METRIC_LOSSES = {
    "triplet": triplet_semihard_loss,
    "triplet-hard": triplet_hard_loss,
    "contrastive": contrastive_loss,
    "none": None,
}


def combined_loss(
    metric: str = "triplet",
    metric_weight: float = 1.0,
    distill_weight: float = 1.0,
    embedding_size: int = 128,
    margin: float | None = None,
):
    """A Keras loss for ``y_true = [teacher descriptor (D) | identity label (1)]``;
    ``margin`` overrides the metric loss's default."""
    metric_fn = METRIC_LOSSES[metric]
    if metric_fn is not None and margin is not None:
        metric_fn = functools.partial(metric_fn, margin=margin)

    def loss(y_true, y_pred):
        total = 0.0
        if distill_weight:
            total = total + distill_weight * distillation_loss(y_true[:, :embedding_size], y_pred)
        if metric_fn is not None and metric_weight:
            total = total + metric_weight * metric_fn(y_true[:, embedding_size], y_pred)
        return total

    return loss
