"""A fleet member's local SQLite database as a replica of the fleet database.

Offline first: the kiosk always recognises against, and records into, its
own SQLite file; :class:`Replicator` moves changes between it and PostgreSQL
whenever the database can be reached.

- Staff changes made on this member (the fleet's admin server) go to the
  fleet database first and come back down like everyone else's, so every
  member applies the same changes in the same order; people keep the id the
  fleet database gave them.
- Each entry this member appends is queued in ``outbox`` in the same
  transaction; it leaves the queue only after the fleet database has it.
  A crash between the two sends it again, which the database ignores (the
  entry's UUID), so nothing is lost and nothing doubles.
- Entries of every door come down in the database's order and are inserted
  by UUID (ignored when already here), with the position kept in ``meta``
  in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kiosk.central import Central, CentralError, PersonChange, Punch, Unreachable
from kiosk.names import clean_name
from kiosk.store import Store, StoreError, UnknownEmployee, encode_png, face_to_json

log = logging.getLogger(__name__)


class ReplicaStore(Store):
    """The local database of a fleet member: reads are local; staff changes
    go through the fleet database; appended entries queue for it."""

    outbox = True

    def __init__(self, path: str | Path, central: Central, create: bool = True, appended=None):
        super().__init__(path, create=create)
        self.central = central
        self.appended = appended or (lambda: None)  # told after each entry is committed (wakes the sync thread)
        self._claim()

    def record_visit(self, *args, **kwargs):
        entry, decision = super().record_visit(*args, **kwargs)
        if entry is not None:
            self.appended()
        return entry, decision

    def add_correction(self, *args, **kwargs):
        entry = super().add_correction(*args, **kwargs)
        self.appended()
        return entry

    def _claim(self) -> None:
        """A standalone kiosk's database has people with ids of its own, which
        would collide with the fleet's: refuse it rather than mix them."""
        if self._meta("fleet_member") is not None:
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self._meta("fleet_member") is not None:
                return
            if self.db.execute("SELECT COUNT(*) FROM employees").fetchone()[0]:
                raise StoreError(f"{self.path}: this data folder holds a standalone kiosk's staff, which cannot join a fleet "
                                 "(their ids would clash); back it up ('kiosk backup'), then point kiosk.data_dir at an empty "
                                 "folder and enrol the staff once on the fleet's admin server")
            self.db.execute("INSERT INTO meta VALUES ('fleet_member', '1')")

    def _meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def _set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    # -- staff changes: through the fleet database, then pulled -----------------------------------------
    def add_employee(self, name, *, image, face, crop, embedding, model_version) -> int:
        employee_id = self.central.add_employee(clean_name(name), **_reference(image, face, crop, embedding, model_version))
        self.pull_gallery(model_version)
        return employee_id

    def replace_reference(self, employee_id, *, image, face, crop, embedding, model_version) -> None:
        self.get_employee(employee_id)
        self._central_change(self.central.replace_reference, employee_id,
                             **_reference(image, face, crop, embedding, model_version))
        self.pull_gallery(model_version)

    def rename(self, employee_id, name) -> None:
        self._central_change(self.central.rename, employee_id, clean_name(name))
        self.pull_gallery()

    def set_expected_start(self, employee_id, start) -> None:
        if start is not None:
            dt.time.fromisoformat(start)
        self._central_change(self.central.set_expected_start, employee_id, start)
        self.pull_gallery()

    def remove_employee(self, employee_id, purge_attendance=False) -> None:
        if purge_attendance:
            raise ValueError("in a fleet, attendance history is deleted on the fleet database, not from one member; "
                             "remove the person without deleting their history")
        self._central_change(self.central.remove_employee, employee_id)
        self.pull_gallery()

    @staticmethod
    def _central_change(change, employee_id, *args, **kwargs) -> None:
        try:
            change(employee_id, *args, **kwargs)
        except KeyError:
            raise UnknownEmployee(employee_id) from None

    # -- pulling -----------------------------------------------------------------------------------------
    def remember_model_version(self, model_version: str) -> None:
        """The model whose embeddings this member pulls (for pulls that do not name it)."""
        if self._meta("fleet_model_version") != model_version:
            self._set_meta("fleet_model_version", model_version)

    def gallery_revision(self) -> int:
        return int(self._meta("fleet_gallery_revision", 0))

    def pull_gallery(self, model_version: str | None = None) -> int:
        """Apply every gallery change since the last one applied; returns how many."""
        model_version = model_version or self._meta("fleet_model_version", "")
        applied = 0
        while True:
            changes = self.central.gallery_changes(self.gallery_revision(), model_version)
            if not changes:
                return applied
            self.apply_gallery(changes)
            applied += len(changes)

    def apply_gallery(self, changes: list[PersonChange]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for c in changes:
                self.db.execute(
                    "INSERT INTO employees (id, name, created, active, expected_start) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, active = excluded.active, "
                    "expected_start = excluded.expected_start", (c.id, c.name, c.created, int(c.active), c.expected_start))
                if c.active and c.embedding is not None:
                    self.db.execute(
                        "INSERT OR REPLACE INTO reference_faces (employee_id, crop_png, embedding, model_version, image_png, "
                        "face_json) VALUES (?, ?, ?, ?, ?, ?)",
                        (c.id, c.crop_png, c.embedding, c.model_version, c.image_png, c.face_json))
                else:
                    self.db.execute("DELETE FROM reference_faces WHERE employee_id = ?", (c.id,))
            self._set_meta("fleet_gallery_revision", changes[-1].revision)
            self._bump()

    def punch_position(self) -> int:
        return int(self._meta("fleet_punch_seq", 0))

    def apply_punches(self, punches: list[Punch]) -> int:
        """Insert entries from the fleet database (those already here are
        skipped) and move the position past them; returns how many were new."""
        new = 0
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for p in punches:
                target = None
                if p.target_uuid is not None:
                    row = self.db.execute("SELECT id FROM attendance WHERE uuid = ?", (p.target_uuid,)).fetchone()
                    if row is None:  # cannot happen in the database's order; stop here and retry later
                        raise CentralError(f"entry {p.uuid} corrects {p.target_uuid}, which has not arrived")
                    target = row[0]
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO attendance (employee_id, at, day, direction, distance, kiosk_id, model_version, kind, "
                    "author, note, target_id, uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (p.employee_id, p.at.isoformat(), p.day.isoformat(), p.direction, p.distance, p.kiosk_id, p.model_version,
                     p.kind, p.author, p.note, target, p.uuid))
                new += cur.rowcount
            if punches:
                self._set_meta("fleet_punch_seq", punches[-1].seq)
        return new

    # -- pushing ---------------------------------------------------------------------------------------
    def backlog(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def outbox_batch(self, site: str, limit: int = 500) -> list[Punch]:
        rows = self.db.execute(
            "SELECT a.*, t.uuid AS target_uuid FROM outbox o JOIN attendance a ON a.id = o.attendance_id "
            "LEFT JOIN attendance t ON t.id = a.target_id ORDER BY o.attendance_id LIMIT ?", (limit,)).fetchall()
        return [Punch(r["uuid"], r["employee_id"], dt.datetime.fromisoformat(r["at"]), dt.date.fromisoformat(r["day"]),
                      r["direction"], r["distance"], r["kiosk_id"], site, r["model_version"], r["kind"], r["author"], r["note"],
                      r["target_uuid"]) for r in rows]

    def outbox_done(self, uuids: list[str]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for chunk in range(0, len(uuids), 500):
                part = uuids[chunk : chunk + 500]
                self.db.execute(f"DELETE FROM outbox WHERE attendance_id IN (SELECT id FROM attendance WHERE uuid IN "
                                f"({','.join('?' * len(part))}))", part)


def _reference(image, face, crop, embedding, model_version) -> dict:
    return dict(image_png=None if image is None else encode_png(image[:, :, ::-1]),
                face_json=None if face is None else face_to_json(face), crop_png=encode_png(crop),
                embedding=np.asarray(embedding, np.float32).tobytes(), model_version=model_version)


@dataclass
class SyncState:
    """What the admin status page and /status show of a member's sync."""

    state: str = "starting"  # starting, connected, offline
    backlog: int = 0  # entries recorded here that the fleet database does not have yet
    last_sync: str | None = None  # ISO time of the last complete exchange
    offline_since: str | None = None
    problem: str | None = None
    gallery_revision: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict:
        with self.lock:
            return {"state": self.state, "backlog": self.backlog, "last_sync": self.last_sync,
                    "offline_since": self.offline_since, "problem": self.problem, "gallery_revision": self.gallery_revision}


class Replicator:
    """The sync thread of a fleet member: send the outbox, then pull gallery
    changes and other doors' entries; wait for a change notice (within a
    second of a change), a local punch, or ``interval`` seconds; retry with
    a growing pause while the database is away."""

    def __init__(self, open_store, central: Central, *, site: str, model_version: str, interval: float = 30.0,
                 batch: int = 500):
        self.batch = batch  # entries per transaction sent up
        self.open_store = open_store  # a new ReplicaStore for this thread (SQLite connections stay in their thread)
        self.central = central
        self.site = site
        self.model_version = model_version
        self.interval = interval
        self.state = SyncState()
        self.wake = threading.Event()  # set after a local punch: send it now
        self.stop_event = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def sync_once(self, store: ReplicaStore) -> None:
        while batch := store.outbox_batch(self.site, self.batch):
            self.central.push(batch)
            store.outbox_done([p.uuid for p in batch])
        store.remember_model_version(self.model_version)
        store.pull_gallery(self.model_version)
        while punches := self.central.punches_after(store.punch_position()):
            store.apply_punches(punches)
        with self.state.lock:
            self.state.state, self.state.problem, self.state.offline_since = "connected", None, None
            self.state.backlog, self.state.gallery_revision = store.backlog(), store.gallery_revision()
            self.state.last_sync = dt.datetime.now().astimezone().isoformat(timespec="seconds")

    def run(self) -> None:
        store = self.open_store()
        pause = 1.0
        try:
            while not self.stop_event.is_set():
                self.wake.clear()
                try:
                    self.sync_once(store)
                    pause = 1.0
                    self.central.wait(self.interval, woken=self.wake)
                except Exception as exc:  # a fault here must not end syncing for good: report it and retry
                    if not isinstance(exc, CentralError):
                        log.exception("fleet sync failed; retrying")
                        exc = CentralError(f"sync failed: {type(exc).__name__}")
                    self._offline(store, exc)
                    self.wake.wait(pause)
                    pause = min(pause * 2, 15.0)
        finally:
            store.close()

    def _offline(self, store: ReplicaStore, exc: CentralError) -> None:
        with self.state.lock:
            if self.state.state != "offline":
                log.warning("fleet database: %s; recording here until it is back", exc)
                self.state.offline_since = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            elif not isinstance(exc, Unreachable):
                log.warning("fleet database: %s", exc)
            self.state.state, self.state.problem = "offline", str(exc)
            self.state.backlog = store.backlog()
