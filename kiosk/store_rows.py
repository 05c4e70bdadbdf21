"""The row types the store returns: a person, their stored reference face,
the gallery snapshot for matching, and one row of the raw attendance log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.detection import Detection


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
    """Snapshot of the enrolled faces for one model version, for matching."""

    ids: np.ndarray
    names: list[str]
    embeddings: np.ndarray  # (N, D) unit rows
    generation: int

    def __len__(self) -> int:
        return len(self.ids)

    def name_of(self, employee_id: int) -> str | None:
        hits = np.flatnonzero(self.ids == employee_id)
        return self.names[hits[0]] if len(hits) else None
