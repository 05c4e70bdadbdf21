import numpy as np
import pytest

from trainer.metrics import accuracy_at, best_threshold, gallery_far, kfold_accuracy, roc_auc, tar_at_far, threshold_for_far

D = np.array([0.1, 0.2, 0.3, 0.45, 0.5, 0.7, 0.8, 0.9])
SAME = np.array([True, True, True, False, True, False, False, False])


def test_accuracy_and_best_threshold():
    assert accuracy_at(D, SAME, 0.35) == 7 / 8
    t = best_threshold(D, SAME)
    assert accuracy_at(D, SAME, t) == 7 / 8
    assert 0.3 < t < 0.45 or 0.5 < t < 0.7


def test_balanced_threshold_weighs_matches_and_mismatches_equally():
    # 2 matches at 0.5, 3 mismatches closer and 95 farther: plain accuracy is
    # best rejecting everything (2 errors, not 3); balanced accuracy accepts
    # both matches at the price of 3 of 98 mismatches.
    d = np.concatenate([[0.50, 0.52], [0.45, 0.46, 0.47], np.linspace(0.6, 1.0, 95)])
    same = np.arange(100) < 2
    assert best_threshold(d, same) < 0.45
    t = best_threshold(d, same, balanced=True)
    assert 0.52 < t < 0.6


def test_threshold_for_far_admits_at_most_that_share_of_impostors():
    impostor = np.linspace(0.5, 1.5, 1000)
    d = np.concatenate([np.full(10, 0.2), impostor])
    same = np.concatenate([np.ones(10, bool), np.zeros(1000, bool)])
    t = threshold_for_far(d, same, 1e-2)
    assert np.sum(impostor <= t) == 10
    assert threshold_for_far(d, same, 1e-4) < impostor.min()


def test_tar_at_far_and_auc():
    assert tar_at_far(D, SAME, 0.25) == 1.0  # one impostor of four (0.45) may be accepted
    assert tar_at_far(D, SAME, 0.1) == 0.75
    # 15 of the 16 genuine/impostor orderings are right
    assert roc_auc(D, SAME) == pytest.approx(15 / 16)


def test_kfold_uses_thresholds_from_the_other_folds():
    # fold 1 would be perfect at its own threshold (0.55) but the others choose ~0.35
    d = np.array([0.1, 0.6, 0.1, 0.6, 0.5, 0.6])
    same = np.array([True, False, True, False, True, False])
    folds = np.array([0, 0, 1, 1, 2, 2])
    mean, _, per_fold = kfold_accuracy(d, same, folds)
    assert per_fold[2] == 0.5 and per_fold[0] == 1.0
    assert mean == pytest.approx(2.5 / 3)


def test_gallery_far_grows_with_gallery_size():
    assert gallery_far(1e-3, 1) == pytest.approx(1e-3)
    assert gallery_far(1e-3, 100) == pytest.approx(1 - 0.999**100)
