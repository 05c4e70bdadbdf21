"""The face mesh (kiosk/face_mesh.py): the crop's geometry on hand-made boxes, the
model's tensors, and on LFW photos the points against the detector's keypoints,
under rotation, and the face flag on an empty picture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.detection import default_model_path
from kiosk.face_mesh import POINT_COUNT, FaceMesh, mesh_roi, roi_transform
from kiosk.inference import InferenceError, TFLiteModel

NOSE_TIP = 1
EYE_CORNERS = ((33, 133), (362, 263))  # image-left eye, image-right eye


def to_input(matrix, points):
    return np.asarray(points, float) @ matrix[:, :2].T + matrix[:, 2]


def test_the_crop_is_a_square_one_and_a_half_times_the_box():
    matrix = roi_transform((100, 150, 200, 230), size=192)
    # The longer side (100 px) times 1.5 fills the 192 px input, about the box's centre.
    assert to_input(matrix, [(150, 190)]) == pytest.approx(np.array([[96, 96]]))
    assert to_input(matrix, [(100, 190), (200, 190)])[:, 0] == pytest.approx([96 - 64, 96 + 64])


def test_the_crop_levels_the_eyes():
    angle = np.radians(30)
    eyes = np.array([[150 - 20 * np.cos(angle), 190 - 20 * np.sin(angle)], [150 + 20 * np.cos(angle), 190 + 20 * np.sin(angle)]])
    left, right = to_input(roi_transform((100, 150, 200, 230), eyes, size=192), eyes)
    assert left[1] == pytest.approx(right[1])
    assert right[0] > left[0]


def test_an_empty_box_is_refused():
    with pytest.raises(ValueError, match="empty"):
        roi_transform((10, 10, 10, 10), size=192)


def test_the_model_has_the_tensors_we_read():
    mesh = FaceMesh.load()
    assert mesh.input_size == 192
    assert sorted(int(np.prod(d["shape"])) for d in mesh.model.outputs) == [1, POINT_COUNT * 3]


def test_a_model_of_another_shape_is_refused():
    with pytest.raises(InferenceError, match="expected"):
        FaceMesh(TFLiteModel(default_model_path("short")))


@pytest.fixture(scope="module")
def meshing():
    from kiosk.detection import make_detector

    return make_detector("full"), FaceMesh.load()


def mesh_of(image, meshing):
    detector, mesh = meshing
    faces = detector.detect(image)
    assert faces
    face = max(faces, key=lambda f: f.width)
    return face, mesh.run(image, face)


@pytest.mark.lfw
def test_the_points_land_on_the_face(meshing):
    from tests.helpers import lfw_image

    for person in ("Aaron_Peirsol", "Serena_Williams", "Gerhard_Schroeder"):
        face, result = mesh_of(cv2.imread(str(lfw_image(person))), meshing)
        assert result.score > 0.9
        assert result.points.shape == (POINT_COUNT, 3)
        tolerance = 0.25 * face.eye_distance
        for keypoint, (outer, inner) in enumerate(EYE_CORNERS):
            centre = result.xy[[outer, inner]].mean(0)
            assert np.linalg.norm(centre - face.keypoints[keypoint]) < tolerance, person
        assert np.linalg.norm(result.xy[NOSE_TIP] - face.keypoints[2]) < tolerance, person
        # The nose tip is the nearest point to the camera, the face's outline among the furthest.
        assert result.points[NOSE_TIP, 2] < np.percentile(result.points[:, 2], 2)


@pytest.mark.lfw
def test_points_follow_the_face_when_the_picture_turns(meshing):
    """Levelling the crop makes the mesh turn with the picture (within a few per cent of the face)."""
    from tests.helpers import lfw_image

    photo = cv2.copyMakeBorder(cv2.imread(str(lfw_image("Aaron_Peirsol"))), 60, 60, 60, 60, cv2.BORDER_REPLICATE)
    face, upright = mesh_of(photo, meshing)
    h, w = photo.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0)
    _, turned = mesh_of(cv2.warpAffine(photo, turn, (w, h), borderMode=cv2.BORDER_REPLICATE), meshing)
    expected = upright.xy @ turn[:, :2].T + turn[:, 2]
    error = np.linalg.norm(turned.xy - expected, axis=1)
    assert np.median(error) < 0.05 * face.width


@pytest.mark.lfw
def test_following_the_mesh_finds_the_same_face(meshing):
    """The next frame's crop comes from the last mesh (MediaPipe's tracking); on the
    same picture it lands where the detector's crop did, within a little of the face."""
    from tests.helpers import lfw_image

    photo = cv2.imread(str(lfw_image("Aaron_Peirsol")))
    face, found = mesh_of(photo, meshing)
    box, eyes = mesh_roi(found.points)
    assert (box[:2] <= found.xy.min(0)).all() and (box[2:] >= found.xy.max(0)).all()
    assert np.linalg.norm(eyes - face.keypoints[:2], axis=1).max() < 0.25 * face.eye_distance
    followed = meshing[1].follow(photo, found)
    assert followed.score > 0.9
    assert np.median(np.linalg.norm(followed.xy - found.xy, axis=1)) < 0.03 * face.width


@pytest.mark.lfw
def test_a_track_starts_on_the_crop_it_will_follow_with(meshing):
    """The detection's crop and the mesh's own bend the mesh differently; ``start``
    takes the second, so following on from it changes little."""
    from tests.helpers import lfw_image

    detector, mesh = meshing
    for person in ("Aaron_Peirsol", "Serena_Williams"):
        photo = cv2.imread(str(lfw_image(person)))
        face = max(detector.detect(photo), key=lambda f: f.width)
        first, started = mesh.run(photo, face), mesh.start(photo, face)
        moved = np.median(np.linalg.norm(started.xy - first.xy, axis=1))
        again = np.median(np.linalg.norm(mesh.follow(photo, started).xy - started.xy, axis=1))
        assert again < moved, person


def test_an_empty_picture_has_a_low_face_flag():
    mesh = FaceMesh.load()
    grey = np.full((480, 640, 3), 128, np.uint8)
    assert mesh.run_box(grey, (270, 190, 370, 290)).score < 0.5
