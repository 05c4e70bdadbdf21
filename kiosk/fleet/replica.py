"""A fleet member's local SQLite database as a replica of the fleet database.

Offline first: the kiosk always recognises against, and records into, its
own SQLite file; :class:`kiosk.fleet.sync.Replicator` moves changes between
it and PostgreSQL whenever the database can be reached.

- Staff changes made on this member (the fleet's admin server) go to the
  fleet database first and come back down like everyone else's, so every
  member applies the same changes in the same order; people keep the id the
  fleet database gave them.
- Each entry this member appends is queued in ``outbox`` by a trigger, in
  the same transaction; it leaves the queue only after the fleet database
  has it. A crash between the two sends it again, which the database
  ignores (the entry's UUID), so nothing is lost and nothing doubles.
- Payroll details (employee number, first and last name) come down with
  each person's gallery change; a member whose earlier version pulled
  changes without them reads everyone's once before its next pull.
- Entries of every door come down in the database's order and are inserted
  by UUID (ignored when already here), with the position kept in ``meta``
  in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from kiosk.database_file import StoreError
from kiosk.fleet import central_staff
from kiosk.fleet.central import Central, CentralError
from kiosk.fleet.rows import PersonChange, Punch
from kiosk.names import clean_name, clean_time
from kiosk.store import Store, UnknownEmployee
from kiosk.store_rows import reference_row

# The member's own tables: the outbox, filled by a trigger for every entry
# recorded here (entries pulled from the fleet are inserted with 'pulling' set).
REPLICA_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox (attendance_id INTEGER PRIMARY KEY REFERENCES attendance(id))",
    # Entries the fleet database refused for their content: out of the outbox, kept here and in the log.
    "CREATE TABLE IF NOT EXISTS set_aside (attendance_id INTEGER PRIMARY KEY REFERENCES attendance(id), "
    "reason TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS attendance_outbox AFTER INSERT ON attendance "
    "WHEN (SELECT value FROM meta WHERE key = 'pulling') IS NULL "
    "BEGIN INSERT INTO outbox VALUES (NEW.id); END",
)


class Replica:
    """The fleet side of a member's local database: its claim, the outbox and
    the positions pulled up to. Wraps the local :class:`Store`."""

    def __init__(self, store: Store):
        self.store = store
        self._claim()

    @property
    def db(self):
        return self.store.db

    def _claim(self) -> None:
        """A standalone kiosk's database has people with ids of its own, which
        would collide with the fleet's: refuse it rather than mix them."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self._meta("fleet_member") is None:
                if self.db.execute("SELECT COUNT(*) FROM employees").fetchone()[0]:
                    raise StoreError(
                        f"{self.store.path}: this data folder holds a standalone kiosk's staff, which cannot join "
                        "a fleet (their ids would clash); back it up ('kiosk backup'), then point kiosk.data_dir "
                        "at an empty folder and enrol the staff once on the fleet's admin server"
                    )
                self._set_meta("fleet_member", 1)
            for statement in REPLICA_SCHEMA:
                self.db.execute(statement)

    def _meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def _set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    # -- pulling ---------------------------------------------------------------------------------------
    def remember_model_version(self, model_version: str) -> None:
        """The model whose embeddings this member pulls (for pulls that do not name it)."""
        if self._meta("fleet_model_version") != model_version:
            self._set_meta("fleet_model_version", model_version)

    def gallery_revision(self) -> int:
        return int(self._meta("fleet_gallery_revision", 0))

    def pull_gallery(self, central: Central, model_version: str | None = None) -> int:
        """Apply every gallery change since the last one applied; returns how many."""
        model_version = model_version or self._meta("fleet_model_version", "")
        if self._meta("fleet_payroll_details") is None:
            self._catch_up_details(central)
        applied = 0
        while changes := central.gallery_changes(self.gallery_revision(), model_version):
            self.apply_gallery(changes)
            applied += len(changes)
        return applied

    def _catch_up_details(self, central: Central) -> None:
        """Everyone's payroll details, once: an earlier version of this member pulled gallery changes
        without them (and moved past them), so they are read whole; the next pulls bring the rest."""
        details = central_staff.payroll_details(central) if self.gallery_revision() else []
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for employee_id, number, first_name, last_name in details:
                row = self.db.execute("SELECT active FROM employees WHERE id = ?", (employee_id,)).fetchone()
                if row is not None and row[0] == 1:
                    self._free_number(employee_id, number)
                self.db.execute(
                    "UPDATE employees SET employee_number = ?, first_name = ?, last_name = ? WHERE id = ?",
                    (number, first_name, last_name, employee_id),
                )
            self._set_meta("fleet_payroll_details", 1)
            self.store.bump_generation()

    def _free_number(self, employee_id: int, number: str | None) -> None:
        """Take ``number`` from any other active person here before ``employee_id`` is given it: a change
        pulled before theirs (they gave it up on the fleet database after it was given here); their own
        change, which tells their number now, comes in this pull."""
        if number:
            self.db.execute(
                "UPDATE employees SET employee_number = NULL WHERE employee_number = ? AND active = 1 AND id <> ?",
                (number, employee_id),
            )

    def apply_gallery(self, changes: list[PersonChange]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for c in changes:
                if c.active:
                    self._free_number(c.id, c.employee_number)
                self.db.execute(
                    "INSERT INTO employees (id, name, created, active, expected_start, employee_number, first_name, last_name) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                    "active = excluded.active, expected_start = excluded.expected_start, "
                    "employee_number = excluded.employee_number, first_name = excluded.first_name, last_name = excluded.last_name",
                    (c.id, c.name, c.created, int(c.active), c.expected_start, c.employee_number, c.first_name, c.last_name),
                )
                if c.active and c.embedding is not None:
                    self.db.execute(
                        "INSERT OR REPLACE INTO reference_faces (employee_id, crop_png, embedding, model_version, image_png, "
                        "face_json) VALUES (?, ?, ?, ?, ?, ?)",
                        (c.id, c.crop_png, c.embedding, c.model_version, c.image_png, c.face_json),
                    )
                else:
                    self.db.execute("DELETE FROM reference_faces WHERE employee_id = ?", (c.id,))
                if not c.active:  # the pictures this door learnt of them go with them
                    self.db.execute("DELETE FROM templates WHERE employee_id = ?", (c.id,))
            self._set_meta("fleet_gallery_revision", changes[-1].revision)
            self.store.bump_generation()

    def punch_position(self) -> int:
        return int(self._meta("fleet_punch_seq", 0))

    def punches_checked(self) -> int | None:
        """Up to which number every punch was read from the start (None: never, by this version)."""
        value = self._meta("fleet_punch_checked")
        return None if value is None else int(value)

    def read_again(self) -> None:
        """Pull every punch from the start on the next pull (those already here are skipped)."""
        self._set_meta("fleet_punch_seq", 0)

    def checked_through(self, seq: int) -> None:
        if self.punches_checked() != seq:  # one durable write less on most syncs
            self._set_meta("fleet_punch_checked", seq)

    def apply_punches(self, punches: list[Punch]) -> int:
        """Insert entries from the fleet database (those already here are
        skipped) and move the position past them; returns how many were new."""
        new = 0
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._set_meta("pulling", 1)  # other doors' entries are not ours to send
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
                    (
                        p.employee_id,
                        p.at.isoformat(),
                        p.day.isoformat(),
                        p.direction,
                        p.distance,
                        p.kiosk_id,
                        p.model_version,
                        p.kind,
                        p.author,
                        p.note,
                        target,
                        p.uuid,
                    ),
                )
                new += cur.rowcount
            self.db.execute("DELETE FROM meta WHERE key = 'pulling'")
            if punches:
                self._set_meta("fleet_punch_seq", punches[-1].seq)
        return new

    # -- pushing ---------------------------------------------------------------------------------------
    def backlog(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def outbox_batch(self, site: str, limit: int = 500) -> list[Punch]:
        rows = self.db.execute(
            "SELECT a.*, t.uuid AS target_uuid FROM outbox o JOIN attendance a ON a.id = o.attendance_id "
            "LEFT JOIN attendance t ON t.id = a.target_id ORDER BY o.attendance_id LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            Punch(
                r["uuid"],
                r["employee_id"],
                dt.datetime.fromisoformat(r["at"]),
                dt.date.fromisoformat(r["day"]),
                r["direction"],
                r["distance"],
                r["kiosk_id"],
                site,
                r["model_version"],
                r["kind"],
                r["author"],
                r["note"],
                r["target_uuid"],
            )
            for r in rows
        ]

    def set_aside(self, refused: dict[str, str]) -> None:
        """Entries the fleet database refused for their content (by UUID, with its reason): they leave
        the outbox, so the entries behind them go, and stay here, in the log and in ``set_aside``."""
        now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for uuid, reason in refused.items():
                row = self.db.execute("SELECT id FROM attendance WHERE uuid = ?", (uuid,)).fetchone()
                if row is not None:
                    self.db.execute("INSERT OR REPLACE INTO set_aside VALUES (?, ?, ?)", (row[0], reason, now))
                    self.db.execute("DELETE FROM outbox WHERE attendance_id = ?", (row[0],))

    def set_aside_summary(self) -> tuple[int, str | None]:
        """How many entries are set aside, and the reason the latest was refused."""
        count = self.db.execute("SELECT COUNT(*) FROM set_aside").fetchone()[0]
        latest = self.db.execute("SELECT reason FROM set_aside ORDER BY at DESC, attendance_id DESC LIMIT 1").fetchone()
        return count, None if latest is None else latest[0]

    def outbox_done(self, uuids: list[str]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for chunk in range(0, len(uuids), 500):
                part = uuids[chunk : chunk + 500]
                self.db.execute(
                    f"DELETE FROM outbox WHERE attendance_id IN (SELECT id FROM attendance WHERE uuid IN "
                    f"({','.join('?' * len(part))}))",
                    part,
                )


class MemberStore:
    """The store of a fleet member, by composition: reads and appended entries
    go to the local :class:`Store` (the outbox trigger queues each entry, and
    ``appended`` wakes the sync thread); staff changes go to the fleet database
    first and are pulled back, so every member sees them in the same order."""

    # Read from the local replica as they are.
    _LOCAL = frozenset(
        {
            "path",
            "db",
            "release",
            "close",
            "check_file",
            "quick_check",
            "generation",
            "get_employee",
            "employees",
            "reference",
            "reference_crop",
            "names",
            "gallery",
            "stale_references",
            "update_embedding",
            "entry_owner",
            "history",
            "entries",
            "punch_log",
            "bump_generation",
        }
    )

    def __init__(self, local: Store, central: Central, appended=None):
        self.local, self.central = local, central
        self.replica = Replica(local)
        self.appended = appended or (lambda: None)  # told after each entry is committed (wakes the sync thread)

    def __getattr__(self, name: str):
        if name in MemberStore._LOCAL:
            return getattr(self.local, name)
        raise AttributeError(name)

    def record_visit(self, *args, **kwargs):
        entry, decision = self.local.record_visit(*args, **kwargs)
        if entry is not None:
            self.appended()
        return entry, decision

    def add_correction(self, *args, **kwargs):
        entry = self.local.add_correction(*args, **kwargs)
        self.appended()
        return entry

    def pull_gallery(self, model_version: str | None = None) -> int:
        return self.replica.pull_gallery(self.central, model_version)

    def latest_gallery(self, model_version: str):
        """The whole fleet's gallery: pulled first, so look-alikes among every door's staff are found."""
        self.pull_gallery(model_version)
        return self.local.gallery(model_version)

    def add_employee(self, name, *, image, face, crop, embedding, model_version) -> int:
        employee_id = self.central.add_employee(clean_name(name), **_reference(image, face, crop, embedding, model_version))
        self.pull_gallery(model_version)
        return employee_id

    def replace_reference(self, employee_id, *, image, face, crop, embedding, model_version) -> None:
        self.local.get_employee(employee_id)
        self._central_change(
            self.central.replace_reference, employee_id, **_reference(image, face, crop, embedding, model_version)
        )
        self.pull_gallery(model_version)

    def rename(self, employee_id, name) -> None:
        self._central_change(self.central.rename, employee_id, clean_name(name))
        self.pull_gallery()

    def set_expected_start(self, employee_id, start) -> None:
        self._central_change(self.central.set_expected_start, employee_id, clean_time(start))
        self.pull_gallery()

    def remove_employee(self, employee_id, purge_attendance=False) -> None:
        if purge_attendance:
            raise ValueError(
                "in a fleet, attendance history is deleted on the fleet database, not from one member; "
                "remove the person without deleting their history"
            )
        self._central_change(self.central.remove_employee, employee_id)
        self.pull_gallery()

    def apply_staff(self, changes) -> list[int]:
        """Payroll details and staff files (:class:`kiosk.staff_file.Change`), written on the fleet database in one
        transaction, all or nothing, then pulled back; returns the new people's ids (the fleet's)."""
        try:
            added = central_staff.apply_staff(self.central, changes)
        except KeyError as exc:
            raise UnknownEmployee(exc.args[0]) from None
        self.pull_gallery()
        return added

    @staticmethod
    def _central_change(change, employee_id, *args, **kwargs) -> None:
        try:
            change(employee_id, *args, **kwargs)
        except KeyError:
            raise UnknownEmployee(employee_id) from None


def _reference(image, face, crop, embedding, model_version) -> dict:
    _, crop_png, embedding_bytes, _, image_png, face_json = reference_row(None, image, face, crop, embedding, model_version)
    return dict(
        image_png=image_png, face_json=face_json, crop_png=crop_png, embedding=embedding_bytes, model_version=model_version
    )
