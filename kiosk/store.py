"""SQLite storage: the gallery (one reference crop and embedding per employee)
and the append-only attendance log.

WAL with synchronous=FULL: a punch is on disk when ``record_punch`` returns,
and a kill -9 or power cut never corrupts the file.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.detection import Detection

SCHEMA = """
CREATE TABLE IF NOT EXISTS employees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS reference_faces (
    employee_id INTEGER PRIMARY KEY REFERENCES employees(id),
    crop_png BLOB NOT NULL,          -- the embedding model's aligned crop (before schema 2: the only image kept)
    embedding BLOB NOT NULL,         -- float32 unit vector
    model_version TEXT NOT NULL,
    image_png BLOB,                  -- face-centred reference image any later model can re-align (schema 2)
    face_json TEXT                   -- the face's box, score and keypoints in image_png (schema 2)
);
CREATE TABLE IF NOT EXISTS attendance (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    employee_id INTEGER NOT NULL,
    at TEXT NOT NULL,                -- ISO 8601 with UTC offset
    day TEXT NOT NULL,               -- local date the punch counts for
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    distance REAL,
    kiosk_id TEXT NOT NULL,
    model_version TEXT,
    kind TEXT NOT NULL DEFAULT 'punch' CHECK (kind IN ('punch', 'correction')),
    author TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS attendance_day ON attendance(day, employee_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('gallery_generation', '0');
CREATE TRIGGER IF NOT EXISTS attendance_append_only_update BEFORE UPDATE ON attendance
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
CREATE TRIGGER IF NOT EXISTS attendance_append_only_delete BEFORE DELETE ON attendance
WHEN (SELECT value FROM meta WHERE key = 'purging') IS NULL
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
"""


SCHEMA_VERSION = 2
# Each step takes a database from the version before it; run in order inside one transaction.
MIGRATIONS = {
    2: ("ALTER TABLE reference_faces ADD COLUMN image_png BLOB", "ALTER TABLE reference_faces ADD COLUMN face_json TEXT"),
}


class UnknownEmployee(KeyError):
    pass


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
    id: int
    name: str
    created: str


@dataclass(frozen=True)
class Punch:
    id: int
    employee_id: int
    name: str
    at: str
    direction: str
    distance: float | None


@dataclass(frozen=True)
class Gallery:
    """Snapshot of the enrolled faces for one model version, for matching."""

    ids: np.ndarray
    names: list[str]
    embeddings: np.ndarray  # (N, D) unit rows
    generation: int

    def __len__(self) -> int:
        return len(self.ids)


def connect(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    _migrate(db)
    return db


def _statements(script: str) -> list[str]:
    """A script's statements one by one (executescript would commit the open transaction)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements


def _migrate(db: sqlite3.Connection) -> None:
    """Create a new database, or bring an older one up to SCHEMA_VERSION."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"database schema {version} is newer than this kiosk's ({SCHEMA_VERSION}); upgrade the kiosk")
    fresh = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'reference_faces'").fetchone()[0] == 0
    db.execute("BEGIN IMMEDIATE")
    try:
        if not fresh:
            # Databases from before versioning are schema 1.
            for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
        for statement in _statements(SCHEMA):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def face_to_json(face: Detection) -> str:
    return json.dumps({"box": face.box.round(2).tolist(), "score": round(float(face.score), 4), "keypoints": face.keypoints.round(2).tolist()})


def face_from_json(text: str) -> Detection:
    data = json.loads(text)
    return Detection(np.array(data["box"], np.float32), float(data["score"]), np.array(data["keypoints"], np.float32))


def encode_png(crop_rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", crop_rgb[:, :, ::-1])
    if not ok:
        raise ValueError("could not encode the reference crop")
    return data.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].copy()


class Store:
    """One connection per thread; every write is its own durable transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = connect(self.path)

    def close(self) -> None:
        self.db.close()

    def _bump(self) -> None:
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_generation'")

    def generation(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key = 'gallery_generation'").fetchone()[0])

    # -- employees -----------------------------------------------------------------
    def add_employee(self, name: str, *, image: np.ndarray | None, face: Detection | None, crop: np.ndarray,
                     embedding: np.ndarray, model_version: str) -> int:
        name = name.strip()
        if not name:
            raise ValueError("name must not be empty")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute("INSERT INTO employees (name, created) VALUES (?, ?)", (name, _now().isoformat()))
            self._put_reference(cur.lastrowid, image, face, crop, embedding, model_version)
            self._bump()
        return int(cur.lastrowid)

    def replace_reference(self, employee_id: int, *, image: np.ndarray | None, face: Detection | None, crop: np.ndarray,
                          embedding: np.ndarray, model_version: str) -> None:
        self.get_employee(employee_id)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._put_reference(employee_id, image, face, crop, embedding, model_version)
            self._bump()

    def _put_reference(self, employee_id, image, face, crop, embedding, model_version) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO reference_faces (employee_id, crop_png, embedding, model_version, image_png, face_json) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (employee_id, encode_png(crop), np.asarray(embedding, np.float32).tobytes(), model_version,
             None if image is None else encode_png(image[:, :, ::-1]), None if face is None else face_to_json(face)),
        )

    def rename(self, employee_id: int, name: str) -> None:
        if not name.strip():
            raise ValueError("name must not be empty")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("UPDATE employees SET name = ? WHERE id = ? AND active = 1", (name.strip(), employee_id)).rowcount == 0:
                raise UnknownEmployee(employee_id)
            self._bump()

    def remove_employee(self, employee_id: int, purge_attendance: bool = False) -> None:
        """Deletes the photo and embedding; attendance stays unless purged."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("UPDATE employees SET active = 0 WHERE id = ? AND active = 1", (employee_id,)).rowcount == 0:
                raise UnknownEmployee(employee_id)
            self.db.execute("DELETE FROM reference_faces WHERE employee_id = ?", (employee_id,))
            if purge_attendance:
                self.db.execute("INSERT INTO meta VALUES ('purging', '1')")
                self.db.execute("DELETE FROM attendance WHERE employee_id = ?", (employee_id,))
                self.db.execute("DELETE FROM meta WHERE key = 'purging'")
            self._bump()

    def get_employee(self, employee_id: int) -> Employee:
        row = self.db.execute("SELECT id, name, created FROM employees WHERE id = ? AND active = 1", (employee_id,)).fetchone()
        if row is None:
            raise UnknownEmployee(employee_id)
        return Employee(*row)

    def employees(self) -> list[Employee]:
        return [Employee(*r) for r in self.db.execute("SELECT id, name, created FROM employees WHERE active = 1 ORDER BY name, id")]

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

    # -- gallery -------------------------------------------------------------------
    def gallery(self, model_version: str) -> Gallery:
        generation = self.generation()
        rows = self.db.execute(
            "SELECT e.id, e.name, r.embedding FROM employees e JOIN reference_faces r ON r.employee_id = e.id "
            "WHERE e.active = 1 AND r.model_version = ? ORDER BY e.id",
            (model_version,),
        ).fetchall()
        if not rows:
            return Gallery(np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32), generation)
        return Gallery(
            np.array([r[0] for r in rows]), [r[1] for r in rows],
            np.stack([np.frombuffer(r[2], np.float32) for r in rows]), generation,
        )

    def stale_references(self, model_version: str) -> list[int]:
        """Active people whose embedding another model made (or who need a new photo)."""
        return [r[0] for r in self.db.execute(
            "SELECT r.employee_id FROM reference_faces r JOIN employees e ON e.id = r.employee_id "
            "WHERE e.active = 1 AND r.model_version != ? ORDER BY r.employee_id", (model_version,))]

    def update_embedding(self, employee_id: int, crop: np.ndarray, embedding: np.ndarray, model_version: str) -> None:
        """A new model's crop and embedding of the stored reference."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "UPDATE reference_faces SET crop_png = ?, embedding = ?, model_version = ? WHERE employee_id = ?",
                (encode_png(crop), np.asarray(embedding, np.float32).tobytes(), model_version, employee_id),
            )
            self._bump()

    # -- attendance ------------------------------------------------------------------
    def record_punch(self, employee_id: int, *, at: dt.datetime, distance: float | None, kiosk_id: str,
                     model_version: str | None, cooldown_seconds: float, kind: str = "punch",
                     author: str | None = None, note: str | None = None, direction: str | None = None) -> Punch | None:
        """Append a punch, direction toggling in/out within the day. Returns None
        when the same person punched less than ``cooldown_seconds`` ago."""
        if at.tzinfo is None:
            raise ValueError("punch times must carry a timezone")
        day = at.date().isoformat()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            employee = self.get_employee(employee_id)
            last = self.db.execute(
                "SELECT at, direction FROM attendance WHERE employee_id = ? AND day = ? ORDER BY at DESC, id DESC LIMIT 1",
                (employee_id, day),
            ).fetchone()
            if kind == "punch" and last is not None:
                if (at - dt.datetime.fromisoformat(last[0])).total_seconds() < cooldown_seconds:
                    return None
            if direction is None:
                direction = "out" if last is not None and last[1] == "in" else "in"
            cur = self.db.execute(
                "INSERT INTO attendance (employee_id, at, day, direction, distance, kiosk_id, model_version, kind, author, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (employee_id, at.isoformat(), day, direction, distance, kiosk_id, model_version, kind, author, note),
            )
        return Punch(int(cur.lastrowid), employee_id, employee.name, at.isoformat(), direction, distance)

    def attendance(self, first_day: str | None = None, last_day: str | None = None, employee_id: int | None = None) -> list[sqlite3.Row]:
        sql = ("SELECT a.*, e.name FROM attendance a JOIN employees e ON e.id = a.employee_id WHERE 1=1")
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
        return self.db.execute(sql + " ORDER BY a.at, a.id", args).fetchall()


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()
