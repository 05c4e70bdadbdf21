"""The fused false-accept table on hand-made embeddings: the door's fusion,
the impostor distances and the table's thresholds."""

import numpy as np
import pytest

from kiosk.matching import l2_normalize
from kiosk.visits import FAIR, GOOD, Seen
from trainer.calibrate_fused import far_table, fuse, fused_impostor_distances


def seen(vector, tier=GOOD):
    return Seen(face=True, tier=tier, embedding=l2_normalize(np.asarray(vector, np.float32)))


def test_fusion_is_the_doors_weighted_mean():
    evidence = fuse([seen([1, 0]), seen([0, 1], FAIR)])
    assert evidence.weight == 1.5 and evidence.tier == GOOD
    np.testing.assert_allclose(evidence.mean(), l2_normalize(np.array([1.0, 0.5])), atol=1e-6)


def test_impostor_distances_leave_each_person_out_of_their_own_comparisons():
    photos = {
        "a": [seen([1, 0, 0]), seen([1, 0.1, 0]), seen([1, -0.1, 0])],
        "b": [seen([0, 1, 0]), seen([0.1, 1, 0]), seen([-0.1, 1, 0])],
    }
    d = fused_impostor_distances(photos, k=2)
    # a's fused probe (exactly [1, 0, 0]) against b's enrolment, and b's against a's: orthogonal, distance 1.
    np.testing.assert_allclose(d, [1.0, 1.0], atol=1e-6)


def test_the_table_gives_the_distance_under_which_each_rate_of_impostors_falls():
    impostors = np.linspace(0.0, 1.0, 100_001)[1:]  # 100,000 pairs, evenly spread
    table = far_table(impostors)
    assert set(table) == {1e-2, 1e-3, 1e-4}  # 1e-5 would rest on a single pair: not enough to tell
    assert table[1e-3] == pytest.approx(1e-3, abs=1e-5) and table[1e-2] == pytest.approx(1e-2, abs=1e-5)
    assert np.mean(impostors <= table[1e-3]) == pytest.approx(1e-3, rel=0.01)


def random_people(rng, people: int, pictures: int, spread: float) -> dict[str, list[Seen]]:
    """People with ``pictures`` photos each, scattered ``spread`` about a centre of their own
    (0: copies of one photo), and 4,000 one-photo strangers, in 16 dimensions."""
    photos = {}
    for n in range(people):
        centre = rng.normal(size=16)
        photos[f"p{n}"] = [seen(centre + spread * rng.normal(size=16)) for _ in range(pictures)]
    for n in range(4000):
        photos[f"s{n}"] = [seen(rng.normal(size=16))]
    return photos


def test_the_extra_picture_weight_is_small_for_alike_pictures_and_near_one_for_unrelated_ones():
    from trainer.calibrate_fused import extra_picture_weight

    rng = np.random.default_rng(0)
    alike = extra_picture_weight(random_people(rng, 200, 6, spread=0.0), rate=1e-2)
    unrelated = extra_picture_weight(random_people(rng, 200, 6, spread=100.0), rate=1e-2)
    assert alike == pytest.approx(0.01)  # copies add nothing (held at its floor)
    assert 0.8 <= unrelated <= 1.0  # pictures as different as strangers: each a full chance again
    with pytest.raises(ValueError, match="too few people"):
        extra_picture_weight(random_people(rng, 2, 6, spread=0.1), rate=1e-4)
