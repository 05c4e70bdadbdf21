"""``trainer fit``: train the embedding network (resumable, logged, every run
writes its config beside its outputs)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from trainer import plots
from trainer.data import TripletBatches, centred, load_teacher, make_pairs, normalise, split_rows
from trainer.embed import embed_keras, pair_distances
from trainer.losses import combined_loss, koch_bce
from trainer.metrics import accuracy_at, best_threshold
from trainer.model import build_embedding_model, build_siamese_koch
from trainer.prepare import FaceCache
from trainer.teach import load_taught

log = logging.getLogger(__name__)


@dataclass
class FitConfig:
    cache: str
    out: str
    train_people: str  # people file whose people may be trained on (e.g. peopleDevTrain.txt)
    teacher: str | None = None  # lfw-dlib descriptors.npz, for distillation
    embedding_size: int = 128
    width: int = 32
    epochs: int = 55
    batch_size: int = 128
    steps_per_epoch: int | None = None
    learning_rate: float = 3e-3
    weight_decay: float = 5e-5
    loss: str = "triplet"  # triplet | triplet-hard | contrastive | koch | none
    metric_weight: float = 0.5
    distill_weight: float = 1.0
    holdout_fraction: float = 0.08  # people kept out of training for validation and calibration
    seed: int = 0
    input_size: int | None = None  # taken from the cache
    taught: str | None = None  # folder of teacher-labelled new faces from 'trainer teach'
    taught_fraction: float = 0.6  # share of each batch drawn from them
    init_weights: str | None = None  # start from these weights (fine-tuning) instead of random


def recalibrate_batchnorm(model, crops: np.ndarray, batch_size: int = 128) -> None:
    """Set every BatchNorm's moving statistics to their average over ``crops``.

    Moving averages start at mean 0 / variance 1 and lag far behind the real
    statistics after a short run, which collapses every embedding in inference
    mode; a cumulative average over clean crops fixes that ("precise BN").
    Only the statistics change, never the weights."""
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [bn.momentum for bn in norms]
    try:
        for i, start in enumerate(range(0, len(crops), batch_size)):
            for bn in norms:
                bn.momentum = i / (i + 1)
            model(normalise(crops[start : start + batch_size]), training=True)
    finally:
        for bn, momentum in zip(norms, saved):
            bn.momentum = momentum


def save_weights(model, path: Path) -> None:
    """The network's weights only: a compiled model's ``save_weights`` also
    writes the optimizer's moments (twice the network's size), which nothing
    reads back."""
    keras.Model(model.inputs, model.outputs, name=model.name).save_weights(path)  # same layers, not compiled


class PairValidation(keras.callbacks.Callback):
    """Verification accuracy on pairs of held-out people, logged as ``val_acc``
    (after re-estimating BatchNorm statistics on clean training crops)."""

    def __init__(self, embedding_model, cache, rows, pairs, calibration_crops):
        super().__init__()
        self.embedding_model = embedding_model
        self.crops = cache.crops[rows]
        self.index = {cache.paths[r]: i for i, r in enumerate(rows)}
        self.pairs = pairs
        self.same = np.array([p.same for p in pairs])
        self.calibration_crops = calibration_crops

    def on_epoch_end(self, epoch, logs=None):
        recalibrate_batchnorm(self.embedding_model, self.calibration_crops)
        d = pair_distances(embed_keras(self.embedding_model, self.crops), self.index, self.pairs)
        threshold = best_threshold(d, self.same)
        acc = accuracy_at(d, self.same, threshold)
        if logs is not None:
            logs["val_acc"] = acc
            logs["val_threshold"] = threshold
        log.info("epoch %d: held-out pair accuracy %.4f at distance %.3f", epoch + 1, acc, threshold)


def _koch_pairs(batches: TripletBatches):
    """Turn P x K batches into (image_a, image_b) -> same? pairs for the Koch head."""

    class KochPairs(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def on_epoch_end(self):
            batches.on_epoch_end()

        def __getitem__(self, index):
            x, y = batches[index]
            labels = y[:, -1]
            half = len(x) // 2
            partner = np.arange(len(x)) ^ 1  # neighbours within each group of K
            partner[half:] = np.roll(np.arange(half, len(x)), 7)
            same = (labels == labels[partner]).astype(np.float32)
            return (x, x[partner]), same

    return KochPairs()


def run_fit(config: FitConfig) -> Path:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = FaceCache.load(config.cache)
    config.input_size = int(cache.crops.shape[1])
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    train_rows, holdout_rows = split_rows(cache, config.train_people, config.holdout_fraction)
    if len(train_rows) == 0:
        raise ValueError(f"{config.train_people}: none of its people are in {config.cache}")
    names = {n: i for i, n in enumerate(sorted(set(cache.people[train_rows])))}
    labels = np.array([names[p] for p in cache.people[train_rows]])
    extra = None
    if config.teacher:
        excluded = set(cache.people) - set(cache.people[train_rows])
        teacher, mirrored, centre = load_teacher(config.teacher, cache.paths[train_rows], excluded)
        if config.taught:
            taught = load_taught(config.taught, config.input_size)
            extra = (taught.crops, centred(taught.descriptors, centre))
            log.info("plus %d teacher-labelled new faces from %s", len(taught.crops), config.taught)
    elif config.taught:
        raise ValueError("--taught needs --teacher (its descriptors are centred like the teacher's)")
    else:
        teacher = mirrored = np.zeros((len(train_rows), config.embedding_size), np.float32)
    log.info("training on %d faces of %d people; %d faces held out", len(train_rows), len(names), len(holdout_rows))

    batches = TripletBatches(
        cache.crops[train_rows], labels, teacher, mirrored,
        batch_size=config.batch_size, steps=config.steps_per_epoch, seed=config.seed, workers=2,
        extra=extra, extra_fraction=config.taught_fraction if extra is not None else 0.0,
    )
    keras.utils.set_random_seed(config.seed)
    embedding = build_embedding_model(config.input_size, config.embedding_size, config.width)
    if config.init_weights:
        embedding.load_weights(config.init_weights)
    steps = config.epochs * len(batches)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate / 10, steps, alpha=0.01, warmup_target=config.learning_rate, warmup_steps=max(1, len(batches))
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    if config.loss == "koch":
        model = build_siamese_koch(embedding)
        model.compile(optimizer=optimizer, loss=koch_bce)
        data = _koch_pairs(batches)
    else:
        model = embedding
        distill = config.distill_weight if config.teacher else 0.0
        model.compile(optimizer=optimizer, loss=combined_loss(config.loss, config.metric_weight, distill, config.embedding_size))
        data = batches

    rng = np.random.default_rng(config.seed)
    calibration_crops = cache.crops[rng.choice(train_rows, min(1280, len(train_rows)), replace=False)]
    callbacks = [keras.callbacks.BackupAndRestore(str(out / "backup"))]
    if len(holdout_rows):
        pairs = make_pairs(cache, holdout_rows, 2000, rng)
        callbacks.append(PairValidation(embedding, cache, holdout_rows, pairs, calibration_crops))
        callbacks.append(_BestWeights(embedding, out / "best.weights.h5"))
    callbacks += [keras.callbacks.CSVLogger(str(out / "history.csv"), append=True), _tensorboard(out)]
    model.fit(data, epochs=config.epochs, callbacks=[c for c in callbacks if c is not None], verbose=2)
    recalibrate_batchnorm(embedding, calibration_crops)
    save_weights(embedding, out / "final.weights.h5")
    plots.loss_curve(out / "history.csv", out / "loss.png")
    return out


class _BestWeights(keras.callbacks.Callback):
    """Keeps the embedding weights of the epoch with the best held-out accuracy."""

    def __init__(self, embedding, path: Path):
        super().__init__()
        self.embedding, self.path = embedding, path
        self.best = -1.0

    def on_epoch_end(self, epoch, logs=None):
        acc = (logs or {}).get("val_acc", -1.0)
        if acc > self.best:
            self.best = acc
            save_weights(self.embedding, self.path)


def _tensorboard(out: Path):
    if keras.backend.backend() != "tensorflow":
        return None  # Keras' TensorBoard callback writes through tf.summary
    return keras.callbacks.TensorBoard(str(out / "tensorboard"), update_freq="epoch")
