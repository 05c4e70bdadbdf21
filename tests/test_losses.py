import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the trainer extra is not installed")
from kiosk.matching import l2_normalize  # noqa: E402
from trainer import losses  # noqa: E402


def unit(*rows):
    return l2_normalize(np.array(rows, np.float32))


def value(x):
    return float(keras.ops.convert_to_numpy(x))


def test_triplet_semihard_picks_the_closest_negative_beyond_the_positive():
    # Anchor 0 and its positive are 0.5 apart; negatives lie at 0.134 (too hard),
    # 0.6 (semi-hard: the one to pick) and 1.0 (easy).
    angles = np.radians([0, 60, 30, 66.42, 90])
    emb = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    labels = np.array([0, 0, 1, 2, 3])
    d = 1 - emb @ emb.T
    assert d[0, 3] == pytest.approx(0.6, abs=1e-3)
    anchor0 = 0.5 - 0.6 + 0.2
    # Anchor 1 (positive 0 at 0.5): negatives at 0.134, 0.0007, 0.134 -> none semi-hard -> the farthest.
    anchor1 = max(d[1, 0] - max(d[1, 2], d[1, 3], d[1, 4]) + 0.2, 0)
    got = value(losses.triplet_semihard_loss(labels, emb, 0.2))
    assert got == pytest.approx((anchor0 + anchor1) / 2, abs=1e-4)


def test_triplet_without_semihard_negatives_uses_the_farthest():
    emb = unit([1, 0], [0, 1], [0.9, 0.1])  # positive far, only negative close
    labels = np.array([0, 0, 1])
    d = 1 - emb @ emb.T
    expected = np.mean([max(d[0, 1] - d[0, 2] + 0.2, 0), max(d[1, 0] - d[1, 2] + 0.2, 0)])
    # anchor 1's negative (0.9, 0.1) is at d=0.89 < d(1,0)=1 so also not semi-hard -> farthest = the same one
    assert value(losses.triplet_semihard_loss(labels, emb, 0.2)) == pytest.approx(expected, abs=1e-5)


def test_batch_hard_triplet():
    emb = unit([1, 0], [0.6, 0.8], [0.8, 0.6], [-1, 0])
    labels = np.array([0, 0, 1, 1])
    d = 1 - emb @ emb.T
    per_anchor = [
        max(d[0, 1] - min(d[0, 2], d[0, 3]) + 0.2, 0),
        max(d[1, 0] - min(d[1, 2], d[1, 3]) + 0.2, 0),
        max(d[2, 3] - min(d[2, 0], d[2, 1]) + 0.2, 0),
        max(d[3, 2] - min(d[3, 0], d[3, 1]) + 0.2, 0),
    ]
    assert value(losses.triplet_hard_loss(labels, emb, 0.2)) == pytest.approx(np.mean(per_anchor), abs=1e-5)


def test_contrastive_pulls_matches_and_pushes_close_strangers():
    emb = unit([1, 0], [0.8, 0.6], [0.6, 0.8])
    labels = np.array([0, 0, 1])
    # matched pair d=0.2 (both orders); strangers d=0.04 (0-2 is 1-0.6=0.4, 1-2 is 1-0.96=0.04)
    pull = 0.2**2
    push = np.mean([(0.5 - 0.4) ** 2, (0.5 - 0.04) ** 2])
    assert value(losses.contrastive_loss(labels, emb, 0.5)) == pytest.approx(pull + push, abs=1e-5)


def test_distillation_is_mean_cosine_distance():
    t = unit([1, 0], [0, 1])
    s = unit([1, 0], [1, 1])
    assert value(losses.distillation_loss(t, s)) == pytest.approx((0 + (1 - np.sqrt(0.5))) / 2, abs=1e-6)


def test_koch_bce():
    p = np.array([0.9, 0.2], np.float32)
    y = np.array([1, 0], np.float32)
    assert value(losses.koch_bce(y, p)) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2, abs=1e-5)


def test_combined_loss_reads_teacher_and_labels_from_y_true():
    emb = unit([1, 0], [0, 1])
    y = np.concatenate([emb, np.array([[0], [1]], np.float32)], axis=1)
    assert value(losses.combined_loss("triplet", 1.0, 1.0, embedding_size=2)(y, emb)) == pytest.approx(0.0, abs=1e-6)
