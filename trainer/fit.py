"""``trainer fit``: train the embedding network (resumable, logged, every run
writes its config beside its outputs)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from trainer import backbones, plots
from trainer.data import TripletBatches, centred, load_teacher, make_pairs, normalise, split_rows
from trainer.embed import embed_keras, pair_distances
from trainer.losses import combined_loss, koch_bce
from trainer.metrics import accuracy_at, best_threshold, roc_auc
from trainer.model import build_siamese_koch
from trainer.prepare import FaceCache
from trainer.teach import load_taught

log = logging.getLogger(__name__)


@dataclass
class FitConfig:
    cache: str
    out: str
    train_people: str  # people file whose people may be trained on (e.g. peopleDevTrain.txt)
    teacher: str | None = None  # lfw-dlib descriptors.npz, for distillation
    backbone: str = "mobilefacenet64"  # a name in trainer.backbones.BACKBONES
    init: str | None = None  # pretrained weights to start from ('dlib' for dlib-resnet)
    freeze_stages: int = 0  # keep this many early stages of the backbone fixed
    margin: float = 0.2  # triplet / contrastive margin in cosine distance
    optimizer: str = "adamw"  # adamw | sgd (momentum 0.9)
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
    if not norms:
        return  # e.g. dlib's network: its "batch norms" are fixed affine layers
    saved = [bn.momentum for bn in norms]
    try:
        for i, start in enumerate(range(0, len(crops), batch_size)):
            for bn in norms:
                bn.momentum = i / (i + 1)
            model(normalise(crops[start : start + batch_size]), training=True)
    finally:
        for bn, momentum in zip(norms, saved, strict=True):
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

    def measure(self) -> dict[str, float]:
        recalibrate_batchnorm(self.embedding_model, self.calibration_crops)
        d = pair_distances(embed_keras(self.embedding_model, self.crops), self.index, self.pairs)
        threshold = best_threshold(d, self.same)
        return {"val_acc": accuracy_at(d, self.same, threshold), "val_threshold": threshold, "val_auc": roc_auc(d, self.same)}

    def on_epoch_end(self, epoch, logs=None):
        measured = self.measure()
        if logs is not None:
            logs.update(measured)
        log.info(
            "epoch %d: held-out pair accuracy %.4f at distance %.3f (ROC AUC %.5f)",
            epoch + 1,
            measured["val_acc"],
            measured["val_threshold"],
            measured["val_auc"],
        )


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
    config.input_size = cache.size
    net = backbones.backbone(config.backbone)
    if (cache.alignment, net.input_size or cache.size) != (net.alignment, cache.size):
        raise ValueError(
            f"{config.cache}: '{cache.alignment}' crops of {cache.size} px, but backbone {net.name} needs "
            f"'{net.alignment}' crops of {net.input_size} px: run 'trainer prepare --alignment {net.alignment} "
            f"--size {net.input_size}'"
        )
    if config.init and config.init not in net.init:
        raise ValueError(
            f"--init {config.init}: backbone {net.name} has no such pretrained weights (known: {', '.join(net.init) or 'none'})"
        )
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
        cache.crops[train_rows],
        labels,
        teacher,
        mirrored,
        batch_size=config.batch_size,
        steps=config.steps_per_epoch,
        seed=config.seed,
        workers=2,
        extra=extra,
        extra_fraction=config.taught_fraction if extra is not None else 0.0,
    )
    keras.utils.set_random_seed(config.seed)
    embedding = backbones.build(asdict(config))
    if config.init:
        backbones.load_pretrained(embedding, config.init)
    if config.init_weights:
        embedding.load_weights(config.init_weights)
    frozen = net.frozen_prefixes(config.freeze_stages)
    for layer in embedding.layers:
        if frozen and layer.name.startswith(frozen):
            layer.trainable = False
    steps = config.epochs * len(batches)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate / 10, steps, alpha=0.01, warmup_target=config.learning_rate, warmup_steps=max(1, len(batches))
    )
    if config.optimizer == "sgd":
        # Steps in proportion to the gradient: a nearly converged network stays put
        # where the loss has little to say (AdamW moves every weight by ~lr regardless).
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; choose adamw or sgd")
    if config.loss == "koch":
        model = build_siamese_koch(embedding)
        model.compile(optimizer=optimizer, loss=koch_bce)
        data = _koch_pairs(batches)
    else:
        model = embedding
        distill = config.distill_weight if config.teacher else 0.0
        model.compile(
            optimizer=optimizer,
            loss=combined_loss(config.loss, config.metric_weight, distill, config.embedding_size, config.margin),
        )
        data = batches

    rng = np.random.default_rng(config.seed)
    calibration_crops = cache.crops[rng.choice(train_rows, min(1280, len(train_rows)), replace=False)]
    callbacks = [keras.callbacks.BackupAndRestore(str(out / "backup"))]
    if len(holdout_rows):
        pairs = make_pairs(cache, holdout_rows, 2000, rng)
        validation = PairValidation(embedding, cache, holdout_rows, pairs, calibration_crops)
        callbacks.append(validation)
        # Fine-tuning keeps the starting weights as "best" until an epoch beats them.
        baseline = validation if (config.init or config.init_weights) else None
        callbacks.append(_BestWeights(embedding, out / "best.weights.h5", baseline))
    callbacks += [keras.callbacks.CSVLogger(str(out / "history.csv"), append=True), _tensorboard(out)]
    model.fit(data, epochs=config.epochs, callbacks=[c for c in callbacks if c is not None], verbose=2)
    recalibrate_batchnorm(embedding, calibration_crops)
    save_weights(embedding, out / "final.weights.h5")
    plots.loss_curve(out / "history.csv", out / "loss.png")
    return out


class _BestWeights(keras.callbacks.Callback):
    """Keeps the embedding weights of the epoch with the best held-out accuracy;
    with a ``baseline`` (fine-tuning), the starting weights compete too. The
    best score so far is kept beside the weights, so a resumed run goes on
    comparing against it."""

    def __init__(self, embedding, path: Path, baseline: PairValidation | None = None):
        super().__init__()
        self.embedding, self.path, self.baseline = embedding, path, baseline
        self.record = path.with_suffix(".json")
        self.best = json.loads(self.record.read_text())["val_acc"] if self.record.is_file() else -1.0

    def on_train_begin(self, logs=None):
        if self.baseline is not None and not self.record.is_file():
            measured = self.baseline.measure()
            log.info("before training: held-out pair accuracy %.4f (ROC AUC %.5f)", measured["val_acc"], measured["val_auc"])
            self._keep(measured, epoch=0)

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get("val_acc", -1.0) > self.best:
            self._keep(logs, epoch + 1)

    def _keep(self, measured: dict, epoch: int) -> None:
        self.best = float(measured["val_acc"])
        save_weights(self.embedding, self.path)
        self.record.write_text(
            json.dumps({"epoch": epoch, **{k: float(v) for k, v in measured.items() if k.startswith("val_")}}) + "\n"
        )


def _tensorboard(out: Path):
    if keras.backend.backend() != "tensorflow":
        return None  # Keras' TensorBoard callback writes through tf.summary
    return keras.callbacks.TensorBoard(str(out / "tensorboard"), update_freq="epoch")
