"""Consistent online backups of the kiosk database (SQLite backup API) and a
restore that checks what it restores. Reference photos live in the database,
so one file holds everything."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from pathlib import Path

REQUIRED_TABLES = {"employees", "reference_faces", "attendance", "meta"}


class BackupError(RuntimeError):
    pass


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


def backup(db_path: Path, dest_dir: Path) -> Path:
    """Copy the live database while the kiosk keeps writing; returns the backup file."""
    if not db_path.is_file():
        raise BackupError(f"{db_path}: no database to back up")
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"kiosk-{dt.datetime.now():%Y%m%d-%H%M%S-%f}.db"
    source = sqlite3.connect(db_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one consistent snapshot, even with a writer busy
        copy.execute("PRAGMA journal_mode=DELETE")
        summary = _summary(copy)
    finally:
        copy.close()
        source.close()
    manifest = {"file": target.name, "sha256": _sha256(target), "created": dt.datetime.now().astimezone().isoformat(), **summary}
    target.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target


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


def restore(backup_path: Path, db_path: Path) -> dict:
    """Replace the database with a verified backup (stop the kiosk first)."""
    summary = verify(backup_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staging = db_path.with_name(db_path.name + ".restoring")
    source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
    target = sqlite3.connect(staging)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    os.replace(staging, db_path)
    return summary
