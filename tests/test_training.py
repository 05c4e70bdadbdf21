"""CPU smoke runs of ``trainer fit`` on a tiny synthetic data set."""

import csv

import numpy as np
import pytest

pytest.importorskip("keras", reason="the trainer extra is not installed")

from trainer.fit import FitConfig, run_fit  # noqa: E402
from trainer.prepare import FaceCache  # noqa: E402


@pytest.fixture
def tiny_data(tmp_path):
    return make_tiny_data(tmp_path)


def make_tiny_data(tmp_path):
    """12 'people', each a distinct colour pattern, 4 images each, and a teacher
    that gives every person one direction."""
    rng = np.random.default_rng(0)
    people, paths, crops = [], [], []
    base = rng.integers(0, 255, (12, 1, 1, 3))
    for p in range(12):
        for i in range(4):
            noise = rng.integers(-20, 20, (32, 32, 3))
            crops.append(np.clip(base[p] + noise + (np.arange(32)[:, None, None] * (p % 3)), 0, 255).astype(np.uint8))
            people.append(f"P{p}")
            paths.append(f"P{p}/P{p}_{i + 1:04d}.jpg")
    cache = tmp_path / "cache.npz"
    FaceCache(np.stack(crops), np.array(paths), np.array(people)).save(cache)
    directions = rng.normal(size=(12, 128)).astype(np.float32)
    teacher = np.repeat(directions, 4, axis=0) + rng.normal(0, 0.05, (48, 128)).astype(np.float32)
    np.savez(tmp_path / "teacher.npz", paths=np.array(paths), embedding=teacher, embedding_mirrored=teacher)
    (tmp_path / "people.txt").write_text("12\n" + "".join(f"P{p}\t4\n" for p in range(12)))
    return tmp_path


def losses(run):
    with open(run / "history.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def fit(tiny_data, name, **kw):
    kw.setdefault("epochs", 6)
    config = FitConfig(
        cache=str(tiny_data / "cache.npz"), out=str(tiny_data / name), train_people=str(tiny_data / "people.txt"),
        teacher=str(tiny_data / "teacher.npz"), width=8, batch_size=16, steps_per_epoch=6,
        learning_rate=1e-2, holdout_fraction=0.2, **kw,
    )
    return run_fit(config)


def test_distillation_with_triplets_trains_and_its_loss_drops(tiny_data):
    run = fit(tiny_data, "triplet")
    history = losses(run)
    assert len(history) == 6 and history[-1] < 0.8 * history[0]
    for name in ("config.json", "final.weights.h5", "loss.png"):
        assert (run / name).is_file()


@pytest.mark.parametrize("loss", ["contrastive", "koch"])
def test_other_siamese_losses_train(tiny_data, loss):
    history = losses(fit(tiny_data, loss, loss=loss, distill_weight=0.0))
    assert history[-1] < history[0]


def test_an_interrupted_run_resumes_where_it_stopped(tiny_data):
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt


    run_dir = tiny_data / "resume"
    config = dict(cache=str(tiny_data / "cache.npz"), out=str(run_dir), train_people=str(tiny_data / "people.txt"),
                  teacher=str(tiny_data / "teacher.npz"), width=8, epochs=5, batch_size=16, steps_per_epoch=3)
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
