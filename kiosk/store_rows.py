"""The row types the store returns: a person, their stored reference face,
the gallery snapshot for matching, and one row of the raw attendance log."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

import numpy as np

from kiosk.attendance import Entry
from kiosk.detection import Detection
from kiosk.image_codec import encode_png, face_to_json
from kiosk.matching import cosine_distance, l2_normalize, nearest_per_person


@dataclass(frozen=True)
class StoredReference:
    """One person's reference face as stored: the face-centred image and the
    face in it (None for people enrolled before schema 2), and the crop the
    embedding was made from."""

    image: np.ndarray | None
    face: Detection | None
    crop: np.ndarray
    model_version: str


@dataclass(frozen=True)
class Employee:
    """An active person as the admin pages list them."""

    id: int
    name: str
    created: str
    expected_start: str | None = None  # HH:MM


@dataclass(frozen=True)
class LogRow:
    """One row of the raw attendance log, as recorded, with the person's name."""

    id: int
    employee_id: int
    name: str
    at: str  # ISO 8601 with offset
    day: str  # the work day it counted for when recorded
    direction: str | None
    kind: str
    target_id: int | None
    kiosk_id: str
    author: str | None
    note: str | None
    distance: float | None
    uuid: str | None


@dataclass(frozen=True)
class Gallery:
    """Snapshot of the enrolled faces for one model version, for matching:
    each person's enrolment photo and the templates learnt or added since
    (rows grouped by person, the enrolment photo first)."""

    ids: np.ndarray  # (N,) person ids
    names: list[str]
    embeddings: np.ndarray  # (R, D) unit rows, R >= N
    generation: int
    starts: np.ndarray | None = None  # (N,) each person's first row; None: one row each

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def pictures(self) -> int:
        """How many pictures a stranger's face is compared with (see :meth:`Recognizer.comparisons
        <kiosk.recognition.Recognizer.comparisons>` for what they are worth)."""
        return len(self.embeddings) if len(self.ids) else 0

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Each person's distance to ``query``: to the nearest of their rows."""
        if self.starts is None:
            return cosine_distance(self.embeddings, query)
        return nearest_per_person(self.embeddings, self.starts, query)

    def references(self) -> np.ndarray:
        """Each person's enrolment-photo embedding, (N, D)."""
        return self.embeddings if self.starts is None else self.embeddings[self.starts]

    def means(self) -> Gallery:
        """One row per person: the mean of their rows, back on the unit sphere."""
        if self.starts is None:
            return self
        sums = np.add.reduceat(self.embeddings, self.starts, axis=0)
        return Gallery(self.ids, self.names, l2_normalize(sums), self.generation)

    def name_of(self, employee_id: int) -> str | None:
        hits = np.flatnonzero(self.ids == employee_id)
        return self.names[hits[0]] if len(hits) else None


def reference_row(employee_id, image, face, crop, embedding, model_version) -> tuple:
    """A reference face as the columns of ``reference_faces``, in the table's order."""
    return (
        employee_id,
        encode_png(crop),
        np.asarray(embedding, np.float32).tobytes(),
        model_version,
        None if image is None else encode_png(image[:, :, ::-1]),
        None if face is None else face_to_json(face),
    )


def entry_from_row(row: sqlite3.Row) -> Entry:
    """An ``attendance`` row as the attendance rules take it."""
    return Entry(
        row["id"],
        row["employee_id"],
        dt.datetime.fromisoformat(row["at"]),
        row["kind"],
        row["direction"],
        row["target_id"],
        row["author"],
        row["note"],
        row["kiosk_id"],
        row["distance"],
    )
