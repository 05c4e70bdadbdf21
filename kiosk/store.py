"""SQLite storage: the gallery (one reference crop and embedding per employee)
and the append-only attendance log.

WAL with synchronous=FULL: a punch is on disk when ``record_punch`` returns,
and a kill -9 or power cut never corrupts the file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk import attendance
from kiosk.attendance import Entry
from kiosk.detection import Detection
from kiosk.names import clean_name

SCHEMA = """
CREATE TABLE IF NOT EXISTS employees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    expected_start TEXT              -- local HH:MM they are due, for "late" and "not arrived" (schema 3)
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
    at TEXT NOT NULL,                -- ISO 8601 with UTC offset: the punch (void/redirect: when the correction was made)
    day TEXT NOT NULL,               -- the work day it counted for when recorded
    direction TEXT CHECK (direction IN ('in', 'out')),  -- NULL for a void
    distance REAL,
    kiosk_id TEXT NOT NULL,
    model_version TEXT,
    kind TEXT NOT NULL DEFAULT 'punch' CHECK (kind IN ('punch', 'added', 'void', 'redirect')),
    author TEXT,
    note TEXT,
    target_id INTEGER REFERENCES attendance(id),  -- the entry a void or redirect corrects (schema 3)
    uuid TEXT,                       -- the entry's name across a fleet (schema 4; NULL before)
    CHECK ((kind IN ('void', 'redirect')) = (target_id IS NOT NULL)),
    CHECK (kind = 'void' OR direction IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS attendance_day ON attendance(day, employee_id);
CREATE UNIQUE INDEX IF NOT EXISTS attendance_uuid ON attendance(uuid);
-- Entries this member recorded and the fleet database has not confirmed yet (schema 4).
CREATE TABLE IF NOT EXISTS outbox (attendance_id INTEGER PRIMARY KEY REFERENCES attendance(id));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('gallery_generation', '0');
CREATE TRIGGER IF NOT EXISTS attendance_append_only_update BEFORE UPDATE ON attendance
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
CREATE TRIGGER IF NOT EXISTS attendance_append_only_delete BEFORE DELETE ON attendance
WHEN (SELECT value FROM meta WHERE key = 'purging') IS NULL
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
"""


SCHEMA_VERSION = 4
# Each step takes a database from the version before it; run in order inside one transaction.
MIGRATIONS = {
    2: ("ALTER TABLE reference_faces ADD COLUMN image_png BLOB", "ALTER TABLE reference_faces ADD COLUMN face_json TEXT"),
    # Corrections become kinds of their own (added, void, redirect): the table is rebuilt with
    # the new checks and every row copied (old corrections were added punches).
    3: ("ALTER TABLE employees ADD COLUMN expected_start TEXT",
        "ALTER TABLE attendance RENAME TO attendance_v2",
        "DROP TRIGGER IF EXISTS attendance_append_only_update",
        "DROP TRIGGER IF EXISTS attendance_append_only_delete",
        "DROP INDEX IF EXISTS attendance_day",
        "@attendance",
        "INSERT INTO attendance (id, employee_id, at, day, direction, distance, kiosk_id, model_version, kind, author, note) "
        "SELECT id, employee_id, at, day, direction, distance, kiosk_id, model_version, "
        "CASE kind WHEN 'correction' THEN 'added' ELSE kind END, author, note FROM attendance_v2",
        "DROP TABLE attendance_v2"),
    # Entries get a UUID, so a fleet can send them twice harmlessly (the rebuild of step 3 already has the column).
    4: ("+attendance uuid TEXT",),
}


class UnknownEmployee(KeyError):
    pass


class StoreError(RuntimeError):
    """The database file is missing, damaged or replaced; the message names the file and the fix."""


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
    expected_start: str | None = None  # HH:MM


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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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
        raise StoreError(f"database schema {version} is newer than this kiosk's ({SCHEMA_VERSION}): it was written by a "
                         "newer version; upgrade the kiosk software")
    fresh = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'reference_faces'").fetchone()[0] == 0
    db.execute("BEGIN IMMEDIATE")
    try:
        if not fresh:
            # Databases from before versioning are schema 1.
            for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    if statement.startswith("@"):  # a table of the current schema, created here
                        statement = next(s for s in _statements(SCHEMA) if s.startswith(f"CREATE TABLE IF NOT EXISTS {statement[1:]} "))
                    elif statement.startswith("+"):  # a column, unless an earlier step's rebuild made it
                        table, column, kind = statement[1:].split(" ", 2)
                        if any(r[1] == column for r in db.execute(f"PRAGMA table_info({table})")):
                            continue
                        statement = f"ALTER TABLE {table} ADD COLUMN {column} {kind}"
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


RESTORE_HINT = "restore a backup with 'kiosk restore FILE' (backups are in DATA_DIR/backups)"


class Store:
    """One connection per thread; every write is its own durable transaction.
    ``create=False`` refuses to start a new database (commands that only read)."""

    outbox = False  # a fleet member also queues each entry it appends for the fleet database

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not the kiosk database; move it away or point kiosk.data_dir elsewhere")
        if not self.path.exists() and not create:
            raise StoreError(f"{self.path}: no kiosk database here (nobody enrolled yet?); check kiosk.data_dir or KIOSK_DATA_DIR")
        if self.path.exists() and self.path.stat().st_size == 0:
            raise StoreError(f"{self.path}: the database file is empty (0 bytes), so it was damaged; {RESTORE_HINT}, "
                             "or delete the file to start with no one enrolled")
        try:
            self.db = connect(self.path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a readable kiosk database ({exc}); {RESTORE_HINT}") from None
        _private(self.path)
        self._identity = _identity(self.path)

    def check_file(self) -> None:
        """Raise if the database file was deleted or replaced since it was opened
        (writes would go to a file nobody will read again)."""
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            raise StoreError(f"{self.path}: the database file was deleted while the kiosk was running; "
                             f"restarting to open it again (if it is lost: {RESTORE_HINT})") from None
        if now != self._identity:
            raise StoreError(f"{self.path}: the database file was replaced while the kiosk was running; restarting to use the new one")

    def quick_check(self) -> None:
        """SQLite's quick_check: catches damage in the middle of the file."""
        problems = [line for r in self.db.execute("PRAGMA quick_check(5)") for line in r[0].splitlines() if not line.startswith("***")]
        if problems != ["ok"]:
            raise StoreError(f"{self.path}: the database is damaged ({'; '.join(problems[:3])}); {RESTORE_HINT}")

    def close(self) -> None:
        self.db.close()

    def _bump(self) -> None:
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_generation'")

    def generation(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key = 'gallery_generation'").fetchone()[0])

    # -- employees -----------------------------------------------------------------
    def add_employee(self, name: str, *, image: np.ndarray | None, face: Detection | None, crop: np.ndarray,
                     embedding: np.ndarray, model_version: str) -> int:
        name = clean_name(name)
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
        name = clean_name(name)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("UPDATE employees SET name = ? WHERE id = ? AND active = 1", (name, employee_id)).rowcount == 0:
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
        row = self.db.execute("SELECT id, name, created, expected_start FROM employees WHERE id = ? AND active = 1",
                              (employee_id,)).fetchone()
        if row is None:
            raise UnknownEmployee(employee_id)
        return Employee(*row)

    def employees(self) -> list[Employee]:
        return [Employee(*r) for r in self.db.execute(
            "SELECT id, name, created, expected_start FROM employees WHERE active = 1 ORDER BY name, id")]

    def set_expected_start(self, employee_id: int, start: str | None) -> None:
        """When the person is due (local HH:MM), or None for the configured default."""
        if start is not None:
            dt.time.fromisoformat(start)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("UPDATE employees SET expected_start = ? WHERE id = ? AND active = 1", (start, employee_id)).rowcount == 0:
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
    def record_visit(self, employee_id: int, at: dt.datetime, rule, *, work_day: dt.date, distance: float | None,
                     kiosk_id: str, model_version: str | None) -> tuple[Entry | None, "attendance.Decision"]:
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
            entry = self._append(employee_id, at=at, day=work_day, kind=attendance.PUNCH, direction=decision.direction,
                                 distance=distance, kiosk_id=kiosk_id, model_version=model_version)
        return entry, decision

    def add_correction(self, employee_id: int, kind: str, *, at: dt.datetime, work_day: dt.date, author: str, note: str,
                       direction: str | None = None, target: int | None = None, kiosk_id: str = "admin") -> Entry:
        """A manager's entry: an ``added`` punch, or a ``void`` or ``redirect`` of entry ``target``."""
        if kind not in (attendance.ADDED, attendance.VOID, attendance.REDIRECT):
            raise ValueError(f"not a correction: {kind!r}")
        if not note.strip():
            raise ValueError("a correction needs a reason")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.get_employee(employee_id)
            if kind != attendance.ADDED:
                row = self.db.execute("SELECT employee_id, kind FROM attendance WHERE id = ?", (target,)).fetchone()
                if row is None or row["employee_id"] != employee_id or row["kind"] not in (attendance.PUNCH, attendance.ADDED):
                    raise ValueError(f"entry {target} is not a punch of employee {employee_id}")
            return self._append(employee_id, at=at, day=work_day, kind=kind, direction=direction, target=target,
                                author=author, note=note.strip(), kiosk_id=kiosk_id)

    def _append(self, employee_id: int, *, at: dt.datetime, day: dt.date, kind: str, direction: str | None,
                kiosk_id: str, distance: float | None = None, model_version: str | None = None,
                target: int | None = None, author: str | None = None, note: str | None = None) -> Entry:
        cur = self.db.execute(
            "INSERT INTO attendance (employee_id, at, day, direction, distance, kiosk_id, model_version, kind, author, note, "
            "target_id, uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (employee_id, at.isoformat(), day.isoformat(), direction, distance, kiosk_id, model_version, kind, author, note, target,
             str(uuid.uuid4())),
        )
        if self.outbox:
            self.db.execute("INSERT INTO outbox VALUES (?)", (cur.lastrowid,))
        return Entry(int(cur.lastrowid), employee_id, at, kind, direction, target, author, note, kiosk_id, distance)

    def history(self, employee_id: int, since: dt.datetime | None = None) -> list[Entry]:
        """The person's entries from about ``since`` on (whole stored days, so
        nothing near the edge is missed), with every correction of them."""
        sql, args = "SELECT * FROM attendance WHERE employee_id = ?", [employee_id]
        if since is not None:
            sql += " AND (day >= ? OR id IN (SELECT target_id FROM attendance WHERE employee_id = ? AND day >= ?))"
            first = (since.date() - dt.timedelta(days=1)).isoformat()
            args += [first, employee_id, first]
        return [_entry(r) for r in self.db.execute(sql + " ORDER BY at, id", args)]

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
            rows += [r for r in self.db.execute(
                f"SELECT * FROM attendance WHERE target_id IN ({','.join('?' * len(part))})", part) if r["id"] not in have]
        return sorted((_entry(r) for r in rows), key=lambda e: (e.at, e.id))

    def attendance(self, first_day: str | None = None, last_day: str | None = None, employee_id: int | None = None) -> list[sqlite3.Row]:
        """The raw log (every row, with the person's name), by stored day."""
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

    def names(self, include_removed: bool = True) -> dict[int, str]:
        sql = "SELECT id, name FROM employees" + ("" if include_removed else " WHERE active = 1")
        return {r[0]: r[1] for r in self.db.execute(sql)}


# The rules look back this far: the cooldown and the work day so far.
HISTORY_NEEDED = dt.timedelta(days=2)


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(row["id"], row["employee_id"], dt.datetime.fromisoformat(row["at"]), row["kind"], row["direction"],
                 row["target_id"], row["author"], row["note"], row["kiosk_id"], row["distance"])


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def _private(path: Path) -> None:
    """The database holds faces: readable by the kiosk's user only."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists() and p.stat().st_mode & 0o077:
            p.chmod(0o600)
    folder = path.parent
    if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077:
        folder.chmod(0o700)


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


class DataDirLocked(RuntimeError):
    """Another kiosk process holds the data folder."""


def lock_data_dir(folder: Path):
    """An exclusive lock on the data folder for as long as the returned file
    stays open: one running kiosk per folder, and no restore under it."""
    import fcntl

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = open(folder / "kiosk.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirLocked(f"{folder}: a kiosk is running on this data folder (it holds {folder / 'kiosk.lock'}); "
                            "stop it first (sudo systemctl stop face-kiosk)") from None
    return handle
