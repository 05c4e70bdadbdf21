"""Consistent online backups of the kiosk database (SQLite backup API), the
running kiosk's daily ones, and a restore that checks what it restores and
keeps what it replaces. Reference photos live in the database, so one file
holds everything."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REQUIRED_TABLES = {"employees", "reference_faces", "attendance", "meta"}
DAILY_PREFIX = "kiosk-daily"  # the running kiosk's own backups; only these are pruned
DAY_SECONDS = 24 * 3600


class BackupError(RuntimeError):
    """A backup that cannot be made, checked or restored; the message names the file."""


class BackupIsOlder(BackupError):
    """The database being replaced holds entries the backup lacks; restoring needs ``force``."""


def backups_folder(db_path: Path) -> Path:
    """Where ``kiosk backup`` and the daily backups go by default: DATA_DIR/backups."""
    return Path(db_path).parent / "backups"


def backups_in(folder: Path, prefix: str = "kiosk") -> list[Path]:
    """The backups in ``folder`` whose names start with ``prefix``, oldest first."""
    try:
        found = [p for p in Path(folder).glob(f"{prefix}-*.db") if p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def newest_backup(folder: Path) -> Path | None:
    found = backups_in(folder)
    return found[-1] if found else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _summary(db: sqlite3.Connection) -> dict:
    return {
        "employees": db.execute("SELECT COUNT(*) FROM employees WHERE active = 1").fetchone()[0],
        "attendance_rows": db.execute("SELECT COUNT(*) FROM attendance").fetchone()[0],
    }


def backup(db_path: Path, dest_dir: Path, prefix: str = "kiosk") -> Path:
    """Copy the live database while the kiosk keeps writing; returns the backup file."""
    if not db_path.is_file():
        raise BackupError(f"{db_path}: no database to back up")
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{prefix}-{dt.datetime.now():%Y%m%d-%H%M%S-%f}.db"
    # Written under another name first: half a backup (a full disk, a stop) is never taken for the newest one.
    partial = target.with_name(target.name + ".partial")
    try:
        source = sqlite3.connect(db_path, timeout=30)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # one consistent snapshot, even with a writer busy
            copy.execute("PRAGMA journal_mode=DELETE")
            summary = _summary(copy)
        finally:
            copy.close()
            source.close()
        manifest = {
            "file": target.name,
            "sha256": _sha256(partial),
            "created": dt.datetime.now().astimezone().isoformat(),
            **summary,
        }
        target.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as exc:
        for leftover in (partial, target.with_suffix(".json"), Path(f"{partial}-journal")):
            leftover.unlink(missing_ok=True)
        raise BackupError(f"{target}: the backup could not be written ({exc})") from None
    return target


def prune(folder: Path, keep: int, prefix: str = DAILY_PREFIX) -> list[Path]:
    """Delete all but the newest ``keep`` backups named ``prefix`` (with their manifests); returns those deleted."""
    found = sorted(backups_in(folder, prefix), key=lambda p: p.name)  # one prefix: its names sort by when they were made
    gone = found[: max(0, len(found) - keep)]
    for path in gone:
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
    return gone


class DailyBackups:
    """The running kiosk's own backups in DATA_DIR/backups: one when the
    newest backup there (the kiosk's or a manager's) is a day old, at start
    too, keeping the newest ``keep`` of its own. A backup that would leave
    less than ``min_free_mb`` free is skipped with a warning: a backup must
    never be what fills the disk the punches need."""

    def __init__(self, db_path: Path, keep: int, min_free_mb: int = 0, clock=time.time):
        self.db_path, self.keep, self.min_free_mb, self.clock = Path(db_path), keep, min_free_mb, clock
        self.folder = backups_folder(self.db_path)
        self.last_error: str | None = None

    def due(self) -> bool:
        newest = newest_backup(self.folder)
        return self.keep > 0 and (newest is None or self.clock() - newest.stat().st_mtime >= DAY_SECONDS)

    def run_if_due(self) -> Path | None:
        """Make today's backup when one is due; returns it (None when none was due or it failed)."""
        if not self.due():
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        needed = self.db_path.stat().st_size + self.min_free_mb * 2**20
        if shutil.disk_usage(self.folder).free < needed:
            self.last_error = f"{self.folder}: skipped the daily backup, which would leave less than {self.min_free_mb} MB free"
            log.warning("%s", self.last_error)
            return None
        try:
            made = backup(self.db_path, self.folder, DAILY_PREFIX)
        except BackupError as exc:
            self.last_error = str(exc)
            log.warning("daily backup failed: %s", exc)
            return None
        self.last_error = None
        gone = prune(self.folder, self.keep)
        log.info("daily backup %s (kept the newest %d, deleted %d)", made, self.keep, len(gone))
        return made

    def run(self, stop: threading.Event, check_seconds: float = 600.0) -> None:
        """Until ``stop`` is set: a backup now if one is due, then a look every ``check_seconds``."""
        while True:
            try:
                self.run_if_due()
            except Exception:  # a backup must never stop the kiosk
                log.exception("daily backup failed")
            if stop.wait(check_seconds):
                return

    def start(self) -> DailyThread:
        """Run in a thread of its own until stopped (none is started when ``keep`` is 0)."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="backups", daemon=True)
        if self.keep > 0:
            thread.start()
        return DailyThread(thread, stop)


@dataclass
class DailyThread:
    """The daily backups' thread, stopped with the kiosk (a backup under way gets a few seconds to finish)."""

    thread: threading.Thread
    stop_event: threading.Event

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.ident is not None:  # started (backups = 0 starts none)
            self.thread.join(timeout=5)


def verify(backup_path: Path) -> dict:
    """Checks the manifest checksum, SQLite integrity and the schema; returns the summary."""
    if not backup_path.is_file():
        raise BackupError(f"{backup_path}: backup file not found")
    manifest_path = backup_path.with_suffix(".json")
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("sha256") != _sha256(backup_path):
            raise BackupError(f"{backup_path}: checksum does not match {manifest_path.name}; the backup is damaged")
    try:
        db = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{backup_path}: SQLite integrity check failed")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        summary = _summary(db) if REQUIRED_TABLES <= tables else None
        db.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{backup_path}: not a kiosk database ({exc})") from exc
    if summary is None:
        raise BackupError(f"{backup_path}: missing tables {', '.join(sorted(REQUIRED_TABLES - tables))}")
    return summary


def _entries(db_path: Path) -> dict:
    """Every attendance entry of a database by its UUID (its id before schema 4), with its time."""
    db = sqlite3.connect(db_path)
    try:
        rows = db.execute("SELECT id, uuid, at FROM attendance").fetchall()
    except sqlite3.OperationalError:  # before schema 4: no UUIDs
        rows = [(i, None, at) for i, at in db.execute("SELECT id, at FROM attendance")]
    finally:
        db.close()
    return {uuid or ("id", i): at for i, uuid, at in rows}


def entries_missing_from(backup_path: Path, db_path: Path) -> list[str]:
    """The times of the entries in ``db_path`` that ``backup_path`` lacks (a restore would set them aside);
    empty when the database cannot be read (a damaged one is what a restore is for)."""
    if not db_path.is_file():
        return []
    try:
        current = _entries(db_path)
    except sqlite3.DatabaseError:
        return []
    restored = _entries(backup_path)
    return sorted((at for key, at in current.items() if key not in restored), key=dt.datetime.fromisoformat)


def keep_replaced(db_path: Path) -> Path | None:
    """Move the database (and its WAL, which may hold its newest entries) aside under a dated
    name beside it; returns the kept file, which SQLite opens with its WAL."""
    if not db_path.exists():
        return None
    stamp, n = f"{dt.datetime.now():%Y%m%d-%H%M%S}", 1
    kept = db_path.with_name(f"{db_path.stem}-replaced-{stamp}{db_path.suffix}")
    while kept.exists():  # two restores in one second keep both
        n += 1
        kept = db_path.with_name(f"{db_path.stem}-replaced-{stamp}-{n}{db_path.suffix}")
    os.replace(db_path, kept)
    wal = Path(f"{db_path}-wal")
    if wal.exists():
        os.replace(wal, Path(f"{kept}-wal"))
    Path(f"{db_path}-shm").unlink(missing_ok=True)  # an index of the WAL, rebuilt from it
    return kept


def restore(backup_path: Path, db_path: Path, force: bool = False) -> dict:
    """Replace the database with a verified backup (stop the kiosk first). The
    replaced database is kept beside it (``summary["kept"]``). A backup that
    lacks entries of the database it replaces is refused unless ``force``."""
    summary = verify(backup_path)
    missing = entries_missing_from(backup_path, db_path)
    if missing and not force:
        raise BackupIsOlder(
            f"{backup_path} is older than {db_path}: the database holds {len(missing)} attendance "
            f"entr{'y' if len(missing) == 1 else 'ies'} the backup lacks (the newest at {missing[-1]}); a restore would "
            "set them aside with the replaced file; add --force to restore anyway"
        )
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staging = db_path.with_name(db_path.name + ".restoring")
    source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
    target = sqlite3.connect(staging)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    kept = keep_replaced(db_path)
    os.replace(staging, db_path)
    return {**summary, "kept": kept, "missing": len(missing)}
