"""Checking a photo before it becomes someone's reference face: readable,
not too large, exactly one good face; and warning about look-alikes."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from kiosk.matching import cosine_distance
from kiosk.recognition import FaceEncoder
from kiosk.store import Gallery

MAX_PIXELS = 40_000_000  # a 7000x5700 photo; larger is refused before decoding (decompression bombs)


class EnrollmentError(ValueError):
    """The message says what the person enrolling can do about it."""


@dataclass(frozen=True)
class Lookalike:
    employee_id: int
    name: str
    distance: float


def decode_photo(data: bytes) -> np.ndarray:
    """Uploaded bytes -> BGR array, refusing non-images, corrupt files and decompression bombs."""
    if not data:
        raise EnrollmentError("The file is empty. Choose a photo (JPEG or PNG).")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise EnrollmentError(f"The photo is too large ({image.width}x{image.height} pixels). Use one under 40 megapixels.")
                image = image.convert("RGB")
                rgb = np.asarray(image)
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            if isinstance(exc, UnidentifiedImageError):
                raise EnrollmentError("This file is not an image. Choose a photo (JPEG or PNG).") from exc
            raise EnrollmentError("The photo is too large to process. Use one under 40 megapixels.") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise EnrollmentError("The image file is damaged or incomplete. Take or export the photo again.") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def reference_face(encoder: FaceEncoder, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(aligned RGB crop, embedding) of the one face in the photo, or EnrollmentError with the reason."""
    quality, crop, embedding = encoder.encode(image_bgr)
    if not quality.ok:
        raise EnrollmentError(quality.message)
    return crop, embedding


def lookalikes(gallery: Gallery, embedding: np.ndarray, threshold: float, exclude: int | None = None) -> list[Lookalike]:
    """Enrolled people this face would be accepted as: likely duplicates or risky pairs."""
    if not len(gallery):
        return []
    d = cosine_distance(gallery.embeddings, embedding)
    return sorted(
        (Lookalike(int(gallery.ids[i]), gallery.names[i], float(d[i])) for i in np.flatnonzero(d <= threshold) if gallery.ids[i] != exclude),
        key=lambda x: x.distance,
    )
