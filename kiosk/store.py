"""The kiosk's SQLite database as a repository: people and their reference
faces (the gallery), and the append-only attendance log.

WAL with synchronous=FULL: a punch is on disk when ``record_visit`` returns,
and a kill -9 or power cut never corrupts the file. The schema lives in
``kiosk/migrations`` (see kiosk.schema); the image codec in kiosk.image_codec.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kiosk import attendance
from kiosk.attendance import Entry
from kiosk.database_file import DatabaseFile
from kiosk.detection import Detection
from kiosk.image_codec import decode_png, encode_png, face_from_json
from kiosk.names import clean_name, clean_text, clean_time
from kiosk.store_rows import Employee, Gallery, LogRow, StoredReference, entry_from_row, reference_row

# The rules look back this far: the cooldown and the work day so far.
HISTORY_NEEDED = dt.timedelta(days=2)


class UnknownEmployee(KeyError):
    """No active person with that id."""


Rule = Callable[[list[Entry]], "attendance.Decision"]


class Store:
    """The repository. Safe to share between threads: each thread gets its own
    connection (see kiosk.database_file); every write is its own durable
    transaction. ``create=False`` refuses to start a new database."""

    def __init__(self, path: str | Path, create: bool = True):
        self.file = DatabaseFile(Path(path), create)
        self.path = self.file.path

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection."""
        return self.file.connection()

    def release(self) -> None:
        """Close this thread's connection (a web request's, when it ends)."""
        self.file.release()

    def close(self) -> None:
        self.file.close()

    def check_file(self) -> None:
        self.file.check()

    def quick_check(self) -> None:
        self.file.quick_check()

    def bump_generation(self) -> None:
        """Tell every reader of the gallery that it changed (inside the writer's transaction)."""
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_generation'")

    def generation(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key = 'gallery_generation'").fetchone()[0])

    # -- people ----------------------------------------------------------------------
    def add_employee(
        self,
        name: str,
        *,
        image: np.ndarray | None,
        face: Detection | None,
        crop: np.ndarray,
        embedding: np.ndarray,
        model_version: str,
    ) -> int:
        name = clean_name(name)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute("INSERT INTO employees (name, created) VALUES (?, ?)", (name, _now().isoformat()))
            self._put_reference(cur.lastrowid, image, face, crop, embedding, model_version)
            self.bump_generation()
        return int(cur.lastrowid)

    def replace_reference(
        self,
        employee_id: int,
        *,
        image: np.ndarray | None,
        face: Detection | None,
        crop: np.ndarray,
        embedding: np.ndarray,
        model_version: str,
    ) -> None:
        self.get_employee(employee_id)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._put_reference(employee_id, image, face, crop, embedding, model_version)
            self.bump_generation()

    def _put_reference(self, employee_id, image, face, crop, embedding, model_version) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO reference_faces (employee_id, crop_png, embedding, model_version, image_png, face_json) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            reference_row(employee_id, image, face, crop, embedding, model_version),
        )

    def rename(self, employee_id: int, name: str) -> None:
        name = clean_name(name)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("UPDATE employees SET name = ? WHERE id = ? AND active = 1", (name, employee_id)).rowcount == 0:
                raise UnknownEmployee(employee_id)
            self.bump_generation()

    def remove_employee(self, employee_id: int, purge_attendance: bool = False) -> None:
        """Deletes the photo and embedding; attendance stays unless purged."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("UPDATE employees SET active = 0 WHERE id = ? AND active = 1", (employee_id,)).rowcount == 0:
                raise UnknownEmployee(employee_id)
            self.db.execute("DELETE FROM reference_faces WHERE employee_id = ?", (employee_id,))
            self.db.execute("DELETE FROM templates WHERE employee_id = ?", (employee_id,))
            if purge_attendance:
                self.db.execute(
                    "DELETE FROM punch_photos WHERE entry_id IN (SELECT id FROM attendance WHERE employee_id = ?)", (employee_id,)
                )
                self.db.execute("INSERT INTO meta VALUES ('purging', '1')")
                self.db.execute("DELETE FROM attendance WHERE employee_id = ?", (employee_id,))
                self.db.execute("DELETE FROM meta WHERE key = 'purging'")
            self.bump_generation()

    def get_employee(self, employee_id: int) -> Employee:
        row = self.db.execute(
            "SELECT id, name, created, expected_start FROM employees WHERE id = ? AND active = 1", (employee_id,)
        ).fetchone()
        if row is None:
            raise UnknownEmployee(employee_id)
        return Employee(*row)

    def employees(self) -> list[Employee]:
        return [
            Employee(*r)
            for r in self.db.execute("SELECT id, name, created, expected_start FROM employees WHERE active = 1 ORDER BY name, id")
        ]

    def set_expected_start(self, employee_id: int, start: str | None) -> None:
        """When the person is due (local HH:MM), or None for the configured default."""
        clean_time(start)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if (
                self.db.execute(
                    "UPDATE employees SET expected_start = ? WHERE id = ? AND active = 1", (start, employee_id)
                ).rowcount
                == 0
            ):
                raise UnknownEmployee(employee_id)

    def reference(self, employee_id: int) -> StoredReference:
        row = self.db.execute(
            "SELECT crop_png, image_png, face_json, model_version FROM reference_faces WHERE employee_id = ?", (employee_id,)
        ).fetchone()
        if row is None:
            raise UnknownEmployee(employee_id)
        image = None if row["image_png"] is None else decode_png(row["image_png"])[:, :, ::-1].copy()
        face = None if row["face_json"] is None else face_from_json(row["face_json"])
        return StoredReference(image, face, decode_png(row["crop_png"]), row["model_version"])

    def reference_crop(self, employee_id: int) -> np.ndarray:
        return self.reference(employee_id).crop

    def names(self, include_removed: bool = True) -> dict[int, str]:
        sql = "SELECT id, name FROM employees" + ("" if include_removed else " WHERE active = 1")
        return {r[0]: r[1] for r in self.db.execute(sql)}

    # -- the gallery ---------------------------------------------------------------------
    def gallery(self, model_version: str) -> Gallery:
        """Everyone with a reference for this model: the reference first, then their templates."""
        generation = self.generation()
        rows = self.db.execute(
            "SELECT e.id, e.name, r.embedding, 0 AS t FROM employees e JOIN reference_faces r ON r.employee_id = e.id "
            "WHERE e.active = 1 AND r.model_version = ?1 UNION ALL "
            "SELECT e.id, e.name, t.embedding, t.id FROM templates t JOIN employees e ON e.id = t.employee_id "
            "JOIN reference_faces r ON r.employee_id = e.id AND r.model_version = ?1 "
            "WHERE e.active = 1 AND t.model_version = ?1 ORDER BY 1, 4",
            (model_version,),
        ).fetchall()
        if not rows:
            return Gallery(np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32), generation)
        owners = np.array([r[0] for r in rows])
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        embeddings = np.stack([np.frombuffer(r[2], np.float32) for r in rows])
        names = [rows[i][1] for i in starts]
        return Gallery(owners[starts], names, embeddings, generation, None if len(starts) == len(rows) else starts)

    def latest_gallery(self, model_version: str) -> Gallery:
        """The gallery as fresh as can be had (a fleet member pulls first)."""
        return self.gallery(model_version)

    def stale_references(self, model_version: str) -> list[int]:
        """Active people whose embedding another model made (or who need a new photo)."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT r.employee_id FROM reference_faces r JOIN employees e ON e.id = r.employee_id "
                "WHERE e.active = 1 AND r.model_version != ? ORDER BY r.employee_id",
                (model_version,),
            )
        ]

    def update_embedding(self, employee_id: int, crop: np.ndarray, embedding: np.ndarray, model_version: str) -> None:
        """A new model's crop and embedding of the stored reference."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "UPDATE reference_faces SET crop_png = ?, embedding = ?, model_version = ? WHERE employee_id = ?",
                (encode_png(crop), np.asarray(embedding, np.float32).tobytes(), model_version, employee_id),
            )
            self.bump_generation()

    # -- attendance ------------------------------------------------------------------------
    def record_visit(
        self,
        employee_id: int,
        at: dt.datetime,
        rule: Rule,
        *,
        work_day: dt.date,
        distance: float | None,
        kiosk_id: str,
        model_version: str | None,
    ) -> tuple[Entry | None, attendance.Decision]:
        """Read the person's recent history, let ``rule(history)`` (the
        attendance rules) decide, and append the punch it asks for, all in one
        transaction, so two threads never punch one visit twice."""
        if at.tzinfo is None:
            raise ValueError("punch times must carry a time zone")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.check_file()
            self.get_employee(employee_id)
            decision = rule(self.history(employee_id, since=at - HISTORY_NEEDED))
            if decision.direction is None:
                return None, decision
            entry = self._append(
                employee_id,
                at=at,
                day=work_day,
                kind=attendance.PUNCH,
                direction=decision.direction,
                distance=distance,
                kiosk_id=kiosk_id,
                model_version=model_version,
            )
        return entry, decision

    def add_correction(
        self,
        employee_id: int,
        kind: str,
        *,
        at: dt.datetime,
        work_day: dt.date,
        author: str,
        note: str,
        direction: str | None = None,
        target: int | None = None,
        kiosk_id: str = "admin",
    ) -> Entry:
        """A manager's entry: an ``added`` punch, or a ``void`` or ``redirect`` of entry ``target``."""
        if kind not in (attendance.ADDED, attendance.VOID, attendance.REDIRECT):
            raise ValueError(f"not a correction: {kind!r}")
        if not note.strip():
            raise ValueError("a correction needs a reason")
        note, author = clean_text(note, "reason"), clean_text(author, "author", 200)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.get_employee(employee_id)
            if kind != attendance.ADDED:
                row = self.db.execute("SELECT employee_id, kind FROM attendance WHERE id = ?", (target,)).fetchone()
                if row is None or row["employee_id"] != employee_id or row["kind"] not in (attendance.PUNCH, attendance.ADDED):
                    raise ValueError(f"entry {target} is not a punch of employee {employee_id}")
            return self._append(
                employee_id,
                at=at,
                day=work_day,
                kind=kind,
                direction=direction,
                target=target,
                author=author,
                note=note,
                kiosk_id=kiosk_id,
            )

    def _append(
        self,
        employee_id: int,
        *,
        at: dt.datetime,
        day: dt.date,
        kind: str,
        direction: str | None,
        kiosk_id: str,
        distance: float | None = None,
        model_version: str | None = None,
        target: int | None = None,
        author: str | None = None,
        note: str | None = None,
    ) -> Entry:
        cur = self.db.execute(
            "INSERT INTO attendance (employee_id, at, day, direction, distance, kiosk_id, model_version, kind, author, note, "
            "target_id, uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                employee_id,
                at.isoformat(),
                day.isoformat(),
                direction,
                distance,
                kiosk_id,
                model_version,
                kind,
                author,
                note,
                target,
                str(uuid.uuid4()),
            ),
        )
        return Entry(int(cur.lastrowid), employee_id, at, kind, direction, target, author, note, kiosk_id, distance)

    def entry_owner(self, entry_id: int) -> int | None:
        """Whose entry ``entry_id`` is (None when there is no such entry)."""
        row = self.db.execute("SELECT employee_id FROM attendance WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else int(row[0])

    def history(self, employee_id: int, since: dt.datetime | None = None) -> list[Entry]:
        """The person's entries from about ``since`` on (whole stored days, so
        nothing near the edge is missed), with every correction of them."""
        sql, args = "SELECT * FROM attendance WHERE employee_id = ?", [employee_id]
        if since is not None:
            sql += " AND (day >= ? OR id IN (SELECT target_id FROM attendance WHERE employee_id = ? AND day >= ?))"
            first = (since.date() - dt.timedelta(days=1)).isoformat()
            args += [first, employee_id, first]
        return [entry_from_row(r) for r in self.db.execute(sql + " ORDER BY at, id", args)]

    def entries(self, first_day: dt.date, last_day: dt.date, employee_id: int | None = None) -> list[Entry]:
        """Entries that may count for work days ``first_day``..``last_day``
        (a day of margin each side, for day boundaries and time zones), and
        every correction made of them, whenever it was made."""
        args: list = [(first_day - dt.timedelta(days=1)).isoformat(), (last_day + dt.timedelta(days=1)).isoformat()]
        sql = "SELECT * FROM attendance WHERE day BETWEEN ? AND ?"
        if employee_id is not None:
            sql += " AND employee_id = ?"
            args.append(employee_id)
        rows = self.db.execute(sql, args).fetchall()
        ids = [r["id"] for r in rows]
        have = set(ids)
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            rows += [
                r
                for r in self.db.execute(f"SELECT * FROM attendance WHERE target_id IN ({','.join('?' * len(part))})", part)
                if r["id"] not in have
            ]
        return sorted((entry_from_row(r) for r in rows), key=lambda e: (e.at, e.id))

    def punch_log(
        self, first_day: str | None = None, last_day: str | None = None, employee_id: int | None = None
    ) -> list[LogRow]:
        """The raw log (every row, with the person's name), by stored day."""
        sql = (
            "SELECT a.id, a.employee_id, e.name, a.at, a.day, a.direction, a.kind, a.target_id, a.kiosk_id, a.author, "
            "a.note, a.distance, a.uuid FROM attendance a JOIN employees e ON e.id = a.employee_id WHERE 1=1"
        )
        args: list = []
        if first_day:
            sql += " AND a.day >= ?"
            args.append(first_day)
        if last_day:
            sql += " AND a.day <= ?"
            args.append(last_day)
        if employee_id is not None:
            sql += " AND a.employee_id = ?"
            args.append(employee_id)
        return [LogRow(*r) for r in self.db.execute(sql + " ORDER BY a.at, a.id", args)]


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()
