"""The kiosk's data folder: one running kiosk per folder, and files only the
kiosk's user can read (it holds faces)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DataDirLocked(RuntimeError):
    """Another kiosk process holds the data folder."""


def lock_data_dir(folder: Path):
    """An exclusive lock on the data folder for as long as the returned file
    stays open: one running kiosk per folder, and no restore under it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = open(folder / "kiosk.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirLocked(
            f"{folder}: a kiosk is running on this data folder (it holds {folder / 'kiosk.lock'}); "
            "stop it first (sudo systemctl stop face-kiosk)"
        ) from None
    return handle


def make_private(database: Path) -> None:
    """The database, its WAL files and its folder: readable by the kiosk's user only."""
    for p in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        if p.exists() and p.stat().st_mode & 0o077:
            p.chmod(0o600)
    folder = database.parent
    if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077:
        folder.chmod(0o700)
