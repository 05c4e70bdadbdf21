"""What travels between a member and the fleet database: a person as the
gallery has them after a change, and one attendance row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class PersonChange:
    """One person as the gallery has them after a change (inactive: removed)."""

    id: int
    name: str
    created: str
    active: bool
    expected_start: str | None
    image_png: bytes | None
    face_json: str | None
    revision: int
    model_version: str | None  # the embedding that comes with them (theirs for our model when there is one)
    crop_png: bytes | None
    embedding: bytes | None
    # Payroll details (fleet schema 3): the employee number, and the name as payroll spells it (None: split from name).
    employee_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class Punch:
    """One attendance row on its way up or down."""

    uuid: str
    employee_id: int
    at: dt.datetime
    day: dt.date
    direction: str | None
    distance: float | None
    kiosk_id: str
    site: str
    model_version: str | None
    kind: str
    author: str | None
    note: str | None
    target_uuid: str | None
    seq: int = 0
