"""Enrolment from real photos: EXIF orientation, the stored reference image,
several faces, clear refusals, and re-embedding when the model changes."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.composition import build_encoder
from kiosk.config import BUNDLED_MODEL
from kiosk.enrollment import REFERENCE_SIZE, EnrollmentError, decode_photo, make_reference, read_photo, reembed, reference_image
from kiosk.store import Store
from tests.helpers import lfw_image

# EXIF orientation values and the rotation that undoes each (PIL's transpose names).
ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def encoder():
    return build_encoder(BUNDLED_MODEL)


def phone_photo(path, orientation: int) -> bytes:
    """A JPEG stored sideways with an orientation tag, as phones write portrait photos."""
    image = Image.open(path)
    stored = {
        6: image.transpose(Image.Transpose.ROTATE_90),
        8: image.transpose(Image.Transpose.ROTATE_270),
        3: image.transpose(Image.Transpose.ROTATE_180),
    }[orientation]
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=exif)
    return buf.getvalue()


@pytest.mark.lfw
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(lfw, orientation):
    upright = cv2.imread(str(lfw_image("Colin_Powell", 2)))
    decoded = decode_photo(phone_photo(lfw_image("Colin_Powell", 2), orientation))
    assert decoded.shape == upright.shape
    assert np.abs(decoded.astype(int) - upright.astype(int)).mean() < 6  # JPEG noise only


@pytest.mark.lfw
def test_a_rotated_phone_photo_enrolls_like_the_upright_one(lfw, encoder, tmp_path):
    upright = make_reference(encoder, read_photo(lfw_image("Colin_Powell", 2)))
    sideways = tmp_path / "portrait.jpg"
    sideways.write_bytes(phone_photo(lfw_image("Colin_Powell", 2), 6))
    rotated = make_reference(encoder, read_photo(sideways))
    # as close as two decodings of one photo: well inside the model's own threshold
    assert 1 - float(upright.embedding @ rotated.embedding) < encoder.embedder.contract.threshold / 3


@pytest.mark.lfw
def test_reference_image_is_face_centred_and_re_embeds_to_the_same_vector(lfw, encoder):
    ref = make_reference(encoder, read_photo(lfw_image("Serena_Williams", 1)))
    assert ref.image.shape == (REFERENCE_SIZE, REFERENCE_SIZE, 3)
    centre = ref.face.box.reshape(2, 2).mean(0)
    assert np.abs(centre - REFERENCE_SIZE / 2).max() < 1.0
    assert ref.face.box[2] - ref.face.box[0] == pytest.approx(REFERENCE_SIZE / 2.4, rel=0.01)
    _, again = encoder.embed_face(ref.image, ref.face)
    np.testing.assert_allclose(again, ref.embedding, atol=1e-6)


@pytest.mark.lfw
def test_the_face_in_the_middle_of_a_group_photo_is_enrolled_with_a_note(lfw, encoder):
    centre = cv2.imread(str(lfw_image("Colin_Powell", 2)))
    side = cv2.resize(cv2.imread(str(lfw_image("Tony_Blair", 2))), (225, 225))
    canvas = np.full((250, 750, 3), 90, np.uint8)
    canvas[:, 250:500] = centre
    canvas[12:237, 10:235] = side
    ref = make_reference(encoder, canvas)
    colin, tony = (make_reference(encoder, cv2.imread(str(lfw_image(p, 2)))) for p in ("Colin_Powell", "Tony_Blair"))
    assert "used the one in the middle" in ref.note
    assert (
        1 - float(ref.embedding @ colin.embedding)
        < encoder.embedder.contract.threshold
        < 1 - float(ref.embedding @ tony.embedding)
    )


@pytest.mark.lfw
@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda img: np.full_like(img, 200), "No face found in this photo"),
        (lambda img: cv2.GaussianBlur(img, (0, 0), 5), "The face is blurred"),
        (lambda img: (img * 0.12).astype(np.uint8), "too dark"),
    ],
)
def test_bad_photos_are_refused_with_a_reason_for_the_manager(lfw, encoder, make, needle):
    image = cv2.imread(str(lfw_image("Colin_Powell", 2)))
    with pytest.raises(EnrollmentError, match=needle):
        make_reference(encoder, make(image))


def test_photo_files_that_cannot_be_read_say_why(tmp_path):
    with pytest.raises(EnrollmentError, match=f"{tmp_path / 'missing.jpg'}: no such file"):
        read_photo(tmp_path / "missing.jpg")
    with pytest.raises(EnrollmentError, match="is a folder"):
        read_photo(tmp_path)
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(EnrollmentError, match="text.jpg: This file is not an image"):
        read_photo(tmp_path / "text.jpg")


def test_reference_image_of_a_face_at_the_border_is_padded_black():
    from kiosk.detection import Detection

    image = np.full((200, 200, 3), 255, np.uint8)
    face = Detection(np.array([0, 0, 60, 60], np.float32), 0.9, np.full((6, 2), 30, np.float32))
    out, moved = reference_image(image, face)
    assert out[0, 0].tolist() == [0, 0, 0] and out[REFERENCE_SIZE // 2, REFERENCE_SIZE // 2].tolist() == [255, 255, 255]
    np.testing.assert_allclose(moved.box.reshape(2, 2).mean(0), REFERENCE_SIZE / 2, atol=0.01)


class FakeEncoder:
    """Just what reembed needs: a model version, and embeddings from a crop or a reference image."""

    def __init__(self, alignment, size):
        from types import SimpleNamespace

        self.embedder = SimpleNamespace(contract=SimpleNamespace(version="new"))
        self.alignment, self.size = alignment, size

    def accepts_crop(self, crop):
        return self.alignment == "arcface112" and crop.shape[:2] == (self.size, self.size)

    def embed_crop(self, crop):
        return np.eye(4, dtype=np.float32)[1]

    def embed_face(self, image, face):
        return np.zeros((self.size, self.size, 3), np.uint8), np.eye(4, dtype=np.float32)[2]


def test_reembed_uses_reference_images_and_names_who_needs_a_new_photo(tmp_path):
    from kiosk.detection import Detection

    store = Store(tmp_path / "kiosk.db")
    face = Detection(np.array([80, 80, 180, 180], np.float32), 0.9, np.zeros((6, 2), np.float32))
    with_image = store.add_employee(
        "New",
        image=np.zeros((256, 256, 3), np.uint8),
        face=face,
        crop=np.zeros((64, 64, 3), np.uint8),
        embedding=np.eye(4, dtype=np.float32)[0],
        model_version="old",
    )
    crop_only = store.add_employee(
        "Old",
        image=None,
        face=None,
        crop=np.zeros((64, 64, 3), np.uint8),
        embedding=np.eye(4, dtype=np.float32)[0],
        model_version="old",
    )
    assert reembed(store, FakeEncoder("dlib150", 150)) == (1, [crop_only])
    assert store.gallery("new").ids.tolist() == [with_image] and store.stale_references("new") == [crop_only]
    # A model that takes the old 64 px crops re-embeds the rest from them.
    assert reembed(store, FakeEncoder("arcface112", 64)) == (1, [])
    assert store.gallery("new").ids.tolist() == [with_image, crop_only]
