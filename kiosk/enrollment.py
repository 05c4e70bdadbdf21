"""Checking a photo before it becomes someone's reference face: readable,
upright (EXIF), not too large, one good face; the reference image the store
keeps so any later model can re-embed it; and warning about look-alikes."""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kiosk.alignment import warp
from kiosk.detection import Detection
from kiosk.recognition import FaceEncoder
from kiosk.store import Store
from kiosk.store_rows import Gallery

MAX_PIXELS = 25_000_000  # e.g. 6000x4000; larger is refused before decoding (decompression bombs)
MAX_SIDE = 2400  # photos are decoded no larger than this (JPEGs at reduced scale): far more than any face needs
_DECODING = threading.Lock()  # one photo decoded at a time, so memory stays bounded however many arrive
# Pillow opens dozens of formats, several of which (WebP, TIFF, icons) only say how large they are once
# decoded; a photo is JPEG or PNG, whose size is in the header, so nothing else is even opened.
FORMATS = ("JPEG", "PNG")
# How other formats begin, so the refusal can say what the file is.
_OTHER_FORMATS = (
    (b"RIFF", b"WEBP", "a WebP image"),
    (b"II*\0", b"", "a TIFF image"),
    (b"MM\0*", b"", "a TIFF image"),
    (b"\0\0\1\0", b"", "an icon (ICO)"),
    (b"GIF8", b"", "a GIF image"),
    (b"BM", b"", "a BMP image"),
    (b"8BPS", b"", "a Photoshop file"),
    (b"\0\0\0", b"ftypheic", "a HEIC photo"),
)
REFERENCE_SIZE = 256  # the stored reference image, a square around the face ...
REFERENCE_SCALE = 2.4  # ... this many face-box widths wide: room for any model's crop, rotated

# What the gate's reasons mean for someone choosing a photo (the kiosk's own
# wording speaks to the person in front of the camera).
PHOTO_REASONS = {
    "no_face": "No face found in this photo. Use a clear, front-on photo of the person's face.",
    "several_faces": "This photo shows several faces of similar size. Use a photo of this person alone.",
    "too_small": "The face is too small in this photo. Use a closer photo, or crop it around the face.",
    "turned": "The face is turned away from the camera. Use a photo where they look straight at the camera.",
    "tilted": "The head is tilted. Use a photo where they hold their head upright.",
    "blurred": "The face is blurred. Use a sharper photo.",
    "too_dark": "The face is too dark. Use a photo taken in better light.",
    "too_bright": "The face is overexposed. Use a photo without strong light on the face.",
}


class EnrollmentError(ValueError):
    """The message says what the person enrolling can do about it."""


@dataclass(frozen=True)
class Lookalike:
    employee_id: int
    name: str
    distance: float


@dataclass(frozen=True)
class Reference:
    """What the store keeps of an enrolment photo: a face-centred image large
    enough for any model's alignment, the face found in it, and the current
    model's crop and embedding of that face."""

    image: np.ndarray  # BGR, REFERENCE_SIZE square
    face: Detection  # in ``image`` coordinates
    crop: np.ndarray  # the current model's aligned RGB crop
    embedding: np.ndarray
    note: str | None = None  # e.g. which of several faces was used


def decode_photo(data: bytes) -> np.ndarray:
    """Uploaded bytes -> upright BGR array (EXIF orientation applied) at most
    MAX_SIDE pixels on a side, refusing non-images, corrupt files and
    decompression bombs."""
    if not data:
        raise EnrollmentError("The file is empty. Choose a photo (JPEG or PNG).")
    with _DECODING, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise EnrollmentError(
                        f"The photo is too large ({image.width}x{image.height} pixels). "
                        f"Use one under {MAX_PIXELS // 1_000_000} megapixels."
                    )
                shrink = MAX_SIDE / max(image.size)
                if shrink < 1:  # JPEG: decode at 1/2, 1/4 or 1/8 scale where that still gives MAX_SIDE
                    image.draft("RGB", (max(1, int(image.width * shrink)), max(1, int(image.height * shrink))))
                image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
                # Phones store portrait photos sideways plus an orientation tag.
                upright = ImageOps.exif_transpose(image).convert("RGB")
                rgb = np.asarray(upright)
        except EnrollmentError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
            if isinstance(exc, UnidentifiedImageError):
                raise EnrollmentError(_not_a_photo(data)) from exc
            raise EnrollmentError(
                f"The photo is too large to process. Use one under {MAX_PIXELS // 1_000_000} megapixels."
            ) from exc
        except Exception as exc:  # a hostile file can break a decoder in any way; it is damaged, not a crash
            raise EnrollmentError("The image file is damaged or incomplete. Take or export the photo again.") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _not_a_photo(data: bytes) -> str:
    """Why a file that is neither JPEG nor PNG is refused, naming what it is when that is known."""
    for start, marker, what in _OTHER_FORMATS:
        if data.startswith(start) and marker in data[:16]:
            return f"This file is {what}; only JPEG and PNG photos are used. Save or export it as JPEG or PNG."
    return "This file is not an image. Choose a photo (JPEG or PNG)."


def read_photo(path: str | Path) -> np.ndarray:
    """A photo file from disk, decoded like an upload; errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EnrollmentError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EnrollmentError(f"{path}: is a folder, not a photo") from None
    except PermissionError:
        raise EnrollmentError(f"{path}: not allowed to read this file") from None
    try:
        return decode_photo(data)
    except EnrollmentError as exc:
        raise EnrollmentError(f"{path}: {exc}") from None


def reference_image(image_bgr: np.ndarray, face: Detection) -> tuple[np.ndarray, Detection]:
    """A REFERENCE_SIZE square centred on ``face`` (upright, as in the photo)
    and the face's detection moved into it."""
    x1, y1, x2, y2 = face.box
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    scale = REFERENCE_SIZE / (REFERENCE_SCALE * max(x2 - x1, y2 - y1, 1.0))
    matrix = np.array([[scale, 0, REFERENCE_SIZE / 2 - scale * centre[0]], [0, scale, REFERENCE_SIZE / 2 - scale * centre[1]]])
    image = warp(image_bgr, matrix, REFERENCE_SIZE, cv2.BORDER_CONSTANT)
    box = (face.box.reshape(2, 2) * scale + matrix[:, 2]).reshape(4)
    return image, Detection(box.astype(np.float32), face.score, (face.keypoints * scale + matrix[:, 2]).astype(np.float32))


def make_reference(encoder: FaceEncoder, image_bgr: np.ndarray) -> Reference:
    """The reference of the one good face in a photo (or the clearly dominant
    one of several), or EnrollmentError saying what is wrong with the photo."""
    quality = encoder.check(image_bgr)
    if not quality.ok:
        raise EnrollmentError(PHOTO_REASONS[quality.reason])
    image, face = reference_image(image_bgr, quality.face)
    crop, embedding = encoder.embed_face(image, face)
    return Reference(image, face, crop, embedding, quality.note)


def lookalikes(gallery: Gallery, embedding: np.ndarray, threshold: float, exclude: int | None = None) -> list[Lookalike]:
    """Enrolled people this face would be accepted as: likely duplicates or risky pairs."""
    if not len(gallery):
        return []
    d = gallery.distances(embedding)
    return sorted(
        (
            Lookalike(int(gallery.ids[i]), gallery.names[i], float(d[i]))
            for i in np.flatnonzero(d <= threshold)
            if gallery.ids[i] != exclude
        ),
        key=lambda x: x.distance,
    )


def reembed(store: Store, encoder: FaceEncoder) -> tuple[int, list[int]]:
    """Bring everyone's embedding to the encoder's model: from the stored
    reference image, or from an old stored crop where it is this model's own
    kind of crop. Returns how many were re-embedded and who needs a new photo
    (their old embedding stays, unused, until one is taken)."""
    version = encoder.embedder.contract.version
    redone, need_photo = 0, []
    for employee_id in store.stale_references(version):
        ref = store.reference(employee_id)
        if ref.image is not None and ref.face is not None:
            crop, embedding = encoder.embed_face(ref.image, ref.face)
        elif encoder.accepts_crop(ref.crop):
            crop, embedding = ref.crop, encoder.embed_crop(ref.crop)
        else:
            need_photo.append(employee_id)
            continue
        store.update_embedding(employee_id, crop, embedding, version)
        redone += 1
    return redone, need_photo
