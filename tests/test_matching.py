import numpy as np
import pytest

from kiosk.matching import Match, best_match, best_matches, cosine_distance, l2_normalize


def test_l2_normalize_gives_unit_rows(rng):
    x = l2_normalize(rng.normal(size=(5, 8)))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, rtol=1e-6)
    assert np.all(np.isfinite(l2_normalize(np.zeros(4))))


def test_cosine_distance_of_identical_orthogonal_and_opposite():
    g = np.eye(3, dtype=np.float32)
    np.testing.assert_allclose(cosine_distance(g, np.array([1, 0, 0], np.float32)), [0, 1, 1])
    np.testing.assert_allclose(cosine_distance(-g[:1], np.array([1, 0, 0], np.float32)), [2])


def test_best_match_and_margin():
    gallery = l2_normalize(np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]]))
    match = best_match(gallery, l2_normalize(np.array([0.95, 0.3, 0])))
    assert match.index == 0 or match.index == 1
    d = cosine_distance(gallery, l2_normalize(np.array([0.95, 0.3, 0])))
    assert match.distance == pytest.approx(d.min())
    assert match.margin == pytest.approx(np.sort(d)[1] - np.sort(d)[0])


def test_empty_and_single_person_galleries():
    assert best_match(np.zeros((0, 4), np.float32), np.ones(4, np.float32)) is None
    only = best_match(np.array([[1, 0]], np.float32), np.array([1, 0], np.float32))
    assert only.index == 0 and only.margin == float("inf")


def test_acceptance_needs_threshold_and_margin():
    assert Match(0, 0.2, 0.6).accepted(0.3, 0.1)
    assert not Match(0, 0.4, 0.9).accepted(0.3, 0.1)
    assert not Match(0, 0.2, 0.25).accepted(0.3, 0.1)


def test_batched_matching_agrees_with_single(rng):
    gallery = l2_normalize(rng.normal(size=(1000, 32)))
    queries = l2_normalize(rng.normal(size=(20, 32)))
    for q, m in zip(queries, best_matches(gallery, queries), strict=True):
        single = best_match(gallery, q)
        assert m.index == single.index
        assert (m.distance, m.second_distance) == pytest.approx((single.distance, single.second_distance), abs=1e-5)


def test_each_further_picture_of_a_person_counts_at_its_weight():
    from kiosk.matching import effective_comparisons

    assert effective_comparisons(10, 10, 0.5) == 10  # one picture each: one comparison each
    assert effective_comparisons(10, 20, 0.5) == 15
    assert effective_comparisons(10, 20, 1.0) == 20  # unmeasured: every picture a full comparison
    assert effective_comparisons(0, 0, 0.5) == 0
