"""The kiosk's SQLite file: refused with the way out when it is a folder,
empty, damaged, from a newer kiosk, deleted or replaced under a running
kiosk, or gone where a marker says one existed; migrated once when opened; one connection per thread (SQLite's rule)
with WAL and synchronous=FULL, so a committed write survives a power cut."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from kiosk import schema
from kiosk.backup import backups_folder, newest_backup
from kiosk.data_folder import folder_problem, make_private

# Beside the database once it exists: a database that is gone while this is here was lost, not never made.
MARKER_SUFFIX = ".created"


def restore_hint(path: Path) -> str:
    """How to get the database at ``path`` back: the newest backup in its folder's backups, when there is one."""
    folder = backups_folder(path)
    newest = newest_backup(folder)
    if newest is None:
        return f"restore a backup with 'kiosk restore FILE' (there is none in {folder})"
    return f"restore a backup: the newest is 'kiosk restore {newest}' (more in {folder})"


def marker_path(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def missing_database(path: Path) -> str | None:
    """Why the database at ``path`` must not be started afresh: it is gone, but its marker says it existed."""
    marker = marker_path(path)
    if path.exists() or not marker.is_file():
        return None
    return (
        f"{path}: the kiosk database is missing, but there was one ({marker} says so), so starting empty would lose "
        f"everyone's photos and punches; {restore_hint(path)}, or delete {marker} to start with no one enrolled on purpose"
    )


def _mark(path: Path) -> None:
    marker = marker_path(path)
    if marker.exists():
        return
    try:
        marker.write_text(
            f"The kiosk made its database {path.name} in this folder. While this file is here and {path.name} is not,\n"
            "the kiosk refuses to start (it would start empty): restore a backup with 'kiosk restore FILE',\n"
            "or delete this file to start with no one enrolled on purpose.\n"
        )
    except OSError:  # a full disk: the database still works, only the guard against its loss is missing
        pass


class StoreError(RuntimeError):
    """The database file is missing, damaged or replaced; the message names the file and the fix."""


class DatabaseFile:
    """One SQLite file, checked and migrated at open, with a connection per thread."""

    def __init__(self, path: Path, create: bool = True):
        self.path = path
        files = (path.name, f"{path.name}-wal", f"{path.name}-shm")
        if problem := folder_problem(path.parent, files):  # another user's file is no damage: say whose it is
            raise StoreError(problem)
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not the kiosk database; move it away or point kiosk.data_dir elsewhere")
        if problem := missing_database(path):
            raise StoreError(problem)
        if not path.exists() and not create:
            raise StoreError(f"{path}: no kiosk database here (nobody enrolled yet?); check kiosk.data_dir or KIOSK_DATA_DIR")
        if path.exists() and path.stat().st_size == 0:
            raise StoreError(
                f"{path}: the database file is empty (0 bytes), so it was damaged; {restore_hint(path)}, "
                f"or delete it and {marker_path(path).name} to start with no one enrolled"
            )
        self._local = threading.local()
        self._open: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            schema.migrate(self.connection())
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{path}: not a readable kiosk database ({exc}); {restore_hint(path)}") from None
        except schema.SchemaError as exc:
            self.close()
            raise StoreError(f"{path}: {exc}") from None
        make_private(path)
        _mark(path)
        self._identity = _identity(path)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            try:
                for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
                    conn.execute(f"PRAGMA {pragma}")
            except sqlite3.DatabaseError:
                conn.close()
                raise
            self._local.conn = conn
            with self._lock:
                self._open.append(conn)
        return conn

    def release(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._lock:
                self._open.remove(conn)
            conn.close()

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            conns, self._open = self._open, []
        self._local = threading.local()
        for conn in conns:
            conn.close()

    def check(self) -> None:
        """Raise if the file was deleted or replaced since it was opened
        (writes would go to a file nobody will read again)."""
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            raise StoreError(
                f"{self.path}: the database file was deleted while the kiosk was running; stopping, and it will not "
                f"start empty: {restore_hint(self.path)}, or delete {marker_path(self.path)} to start with no one enrolled"
            ) from None
        if now != self._identity:
            raise StoreError(
                f"{self.path}: the database file was replaced while the kiosk was running; restarting to use the new one"
            )

    def quick_check(self) -> None:
        """SQLite's quick_check: catches damage in the middle of the file."""
        rows = self.connection().execute("PRAGMA quick_check(5)")
        problems = [line for r in rows for line in r[0].splitlines() if not line.startswith("***")]
        if problems != ["ok"]:
            raise StoreError(f"{self.path}: the database is damaged ({'; '.join(problems[:3])}); {restore_hint(self.path)}")


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino
