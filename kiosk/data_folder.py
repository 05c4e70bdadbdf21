"""The kiosk's data folder: one running kiosk per folder, files only the
kiosk's user can read (it holds faces), and what to do when a file in it
belongs to another user (a command run with sudo)."""

from __future__ import annotations

import fcntl
import os
import pwd
from pathlib import Path

# What the kiosk reads and writes in its data folder.
KIOSK_FILES = (
    "kiosk.db",
    "kiosk.db-wal",
    "kiosk.db-shm",
    "kiosk.lock",
    "admin_password",
    "session_epoch",
    "secret_key",
)


class DataFolderError(RuntimeError):
    """The data folder cannot be used by this user; the message names the file, its owner and the fix."""


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"user {uid}"


def unusable(path: Path) -> str:
    """Why this process may not use ``path``, another user's file, and the way out."""
    path = Path(path)
    st = path.stat()
    me, owner = user_name(os.geteuid()), user_name(st.st_uid)
    folder = path if path.is_dir() else path.parent
    return (
        f"{path} belongs to {owner} (mode {st.st_mode & 0o777:04o}) and this kiosk runs as {me}, so it cannot use it "
        f"(a command run as {owner}, with sudo, made it?); fix with 'sudo chown -R {me}: {folder}', and run "
        f"commands on this folder as {me} ('sudo -u {me} kiosk ...')"
    )


def folder_problem(folder: Path, names: tuple[str, ...] = KIOSK_FILES) -> str | None:
    """What stops this process from using ``folder`` as its data folder (and the files ``names`` in it), or None."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            return f"{folder}: is a file, not a folder; point kiosk.data_dir (or KIOSK_DATA_DIR) at a folder"
        if not folder.exists():
            return None
        if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            return unusable(folder)
        for name in names:
            path = folder / name
            if path.exists() and not os.access(path, os.R_OK | os.W_OK):
                return unusable(path)
    except PermissionError:  # a folder above it may not be entered
        return f"{folder}: this kiosk (user {user_name(os.geteuid())}) may not enter it or a folder above it"
    return None


def check_data_dir(folder: Path) -> None:
    """Raise :class:`DataFolderError` when this process cannot use ``folder``."""
    if problem := folder_problem(folder):
        raise DataFolderError(problem)


def refuse_another_users_folder(folder: Path, command: str) -> None:
    """Root writing into the kiosk user's folder leaves files the kiosk cannot read (a login that
    fails with a permission error): say whose folder it is and how to run ``command`` as them."""
    folder = Path(folder)
    if os.geteuid() == 0 and folder.is_dir() and (owner := folder.stat().st_uid) != 0:
        name = user_name(owner)
        raise DataFolderError(
            f"{folder} belongs to {name}, the kiosk's user; files root writes there would be unreadable to the kiosk: "
            f"run it as {name} ('sudo -u {name} kiosk {command}')"
        )


class DataDirLocked(RuntimeError):
    """Another kiosk process holds the data folder."""


def lock_data_dir(folder: Path):
    """An exclusive lock on the data folder for as long as the returned file
    stays open: one running kiosk per folder, and no restore under it."""
    check_data_dir(folder)
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
