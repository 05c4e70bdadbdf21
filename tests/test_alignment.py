import numpy as np
import pytest

from kiosk.alignment import TEMPLATE_112, align_face, estimate_similarity, template


def similarity(scale, degrees, tx, ty):
    a = np.radians(degrees)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, [[tx], [ty]]])


def apply(matrix, points):
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize("scale,degrees,tx,ty", [(1, 0, 0, 0), (2.5, 0, 10, -4), (0.5, 30, 3, 7), (1.3, -75, -20, 40)])
def test_recovers_a_known_similarity(scale, degrees, tx, ty):
    src = np.array([[10.0, 20], [50, 22], [30, 45], [31, 70]])
    truth = similarity(scale, degrees, tx, ty)
    np.testing.assert_allclose(estimate_similarity(src, apply(truth, src)), truth, atol=1e-9)


def test_least_squares_with_noisy_points_lands_near_the_template(rng):
    dst = template(112)
    src = apply(np.linalg.inv(np.vstack([similarity(1.7, 12, 5, 9), [0, 0, 1]]))[:2], dst) + rng.normal(0, 0.3, dst.shape)
    assert np.abs(apply(estimate_similarity(src, dst), src) - dst).max() < 1.5


def umeyama(src, dst):
    """Umeyama's SVD route, written out as the paper gives it: the reference for the closed form."""
    src_c, dst_c = src - src.mean(0), dst - dst.mean(0)
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    linear = (s * d).sum() / ((src_c**2).sum() / len(src)) * (u @ np.diag(d) @ vt)
    return np.hstack([linear, (dst.mean(0) - linear @ src.mean(0))[:, None]])


@pytest.mark.parametrize("seed", range(20))
def test_the_closed_form_is_umeyamas_least_squares_fit(seed):
    rng = np.random.default_rng(seed)
    src = rng.normal(0, 30, (5, 2))
    # Noisy, and every other case mirrored: the best similarity is then far from exact.
    dst = apply(similarity(rng.uniform(0.2, 3), rng.uniform(-180, 180), *rng.normal(0, 50, 2)), src) + rng.normal(0, 5, (5, 2))
    if seed % 2:
        dst[:, 0] = -dst[:, 0]
    np.testing.assert_allclose(estimate_similarity(src, dst), umeyama(src, dst), atol=1e-9)


def test_mirrored_points_are_not_fitted_with_a_reflection():
    src = TEMPLATE_112.copy()
    dst = src.copy()
    dst[:, 0] = -dst[:, 0]
    m = estimate_similarity(src, dst)
    assert np.linalg.det(m[:, :2]) > 0


def test_rejects_bad_point_sets():
    with pytest.raises(ValueError):
        estimate_similarity(np.zeros((4, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError):
        estimate_similarity(np.ones((4, 2)), TEMPLATE_112)


def test_template_scales_with_crop_size():
    np.testing.assert_allclose(template(56), TEMPLATE_112 / 2)


def test_align_face_moves_keypoints_onto_the_template():
    image = np.zeros((400, 400, 3), np.uint8)
    truth = similarity(2.0, 20, 60, 30)
    keypoints = apply(truth, TEMPLATE_112)
    for x, y in keypoints.round().astype(int):
        image[y - 3 : y + 4, x - 3 : x + 4] = 255
    crop = align_face(image, keypoints, 112)
    assert crop.shape == (112, 112, 3)
    for x, y in TEMPLATE_112.round().astype(int):
        assert crop[y, x].max() > 100
