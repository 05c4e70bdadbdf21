"""Templates in the database (table ``templates``, schema 5): the pictures of
a person besides the enrolment photo. They join the gallery through
:meth:`kiosk.store.Store.gallery`; this module adds, lists, re-embeds and
removes them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kiosk.detection import Detection
from kiosk.image_codec import decode_png, encode_png, face_from_json, face_to_json

DOOR, PHOTO = "door", "photo"


@dataclass(frozen=True)
class Template:
    """One template as the admin page lists it."""

    id: int
    employee_id: int
    created: str
    source: str  # DOOR or PHOTO
    entry_id: int | None  # the punch it was learnt from


class TemplateStore:
    """The ``templates`` table of a store (a kiosk's own, or a fleet member's local one)."""

    def __init__(self, store):
        self.store = store

    @property
    def db(self):
        return self.store.db

    def add(
        self,
        employee_id: int,
        source: str,
        *,
        image: np.ndarray,
        face: Detection,
        crop: np.ndarray,
        embedding: np.ndarray,
        model_version: str,
        entry_id: int | None = None,
    ) -> int:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.store.get_employee(employee_id)
            cur = self.db.execute(
                "INSERT INTO templates (employee_id, created, source, entry_id, image_png, face_json, crop_png, embedding, "
                "model_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    employee_id,
                    dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                    source,
                    entry_id,
                    encode_png(image[:, :, ::-1]),
                    face_to_json(face),
                    encode_png(crop),
                    np.asarray(embedding, np.float32).tobytes(),
                    model_version,
                ),
            )
            self.store.bump_generation()
        return int(cur.lastrowid)

    def of(self, employee_id: int) -> list[Template]:
        return [
            Template(*r)
            for r in self.db.execute(
                "SELECT id, employee_id, created, source, entry_id FROM templates WHERE employee_id = ? ORDER BY id",
                (employee_id,),
            )
        ]

    def embeddings(self, employee_id: int, model_version: str) -> tuple[list[int], np.ndarray]:
        """The person's template ids and embeddings for a model."""
        rows = self.db.execute(
            "SELECT id, embedding FROM templates WHERE employee_id = ? AND model_version = ? ORDER BY id",
            (employee_id, model_version),
        ).fetchall()
        return [r[0] for r in rows], np.array([np.frombuffer(r[1], np.float32) for r in rows], np.float32)

    def picture(self, template_id: int) -> tuple[int, np.ndarray]:
        """Whose template it is, and its face-centred image (RGB)."""
        row = self.db.execute("SELECT employee_id, image_png FROM templates WHERE id = ?", (template_id,)).fetchone()
        if row is None:
            raise KeyError(template_id)
        return row[0], decode_png(row[1])

    def remove(self, template_ids: list[int]) -> int:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            removed = sum(self.db.execute("DELETE FROM templates WHERE id = ?", (i,)).rowcount for i in template_ids)
            if removed:
                self.store.bump_generation()
        return removed

    def learnt_from(self, entry_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM templates WHERE entry_id = ?", (entry_id,))]

    def stale(self, model_version: str) -> list[tuple[int, np.ndarray, Detection]]:
        """Templates another model embedded: id, face-centred image (BGR) and the face in it, to embed again."""
        rows = self.db.execute("SELECT id, image_png, face_json FROM templates WHERE model_version != ?", (model_version,))
        return [(r[0], decode_png(r[1])[:, :, ::-1].copy(), face_from_json(r[2])) for r in rows]

    def update_embedding(self, template_id: int, crop: np.ndarray, embedding: np.ndarray, model_version: str) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "UPDATE templates SET crop_png = ?, embedding = ?, model_version = ? WHERE id = ?",
                (encode_png(crop), np.asarray(embedding, np.float32).tobytes(), model_version, template_id),
            )
            self.store.bump_generation()
