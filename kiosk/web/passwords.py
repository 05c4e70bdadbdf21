"""The admin password, stored only as a salted hash beside the database, the
session epoch that revokes sessions, and the key that signs them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from kiosk.data_folder import unusable

log = logging.getLogger(__name__)

MIN_LENGTH = 10
KEY_BYTES = 32


class PasswordFileError(PermissionError):
    """A file of the admin login belongs to another user; the message names it, its owner and the fix."""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except PermissionError:
        raise PasswordFileError(unusable(path)) from None


def password_file(data_dir: Path) -> Path:
    return Path(data_dir) / "admin_password"


def is_set(data_dir: Path) -> bool:
    return password_file(data_dir).is_file()


def _write_private(path: Path, data: bytes) -> None:
    """Atomically and durably: a crash leaves the old file or the new one, never an empty one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def set_password(data_dir: Path, password: str) -> None:
    """A new password ends every session made with the old one."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
    _write_private(password_file(data_dir), generate_password_hash(password).encode())
    bump_session_epoch(data_dir)


def check(data_dir: Path, password: str) -> bool:
    path = password_file(data_dir)
    return path.is_file() and check_password_hash(_read(path).strip(), password)


def session_epoch(data_dir: Path) -> int:
    try:
        return int(_read(Path(data_dir) / "session_epoch").strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def bump_session_epoch(data_dir: Path) -> int:
    epoch = session_epoch(data_dir) + 1
    _write_private(Path(data_dir) / "session_epoch", str(epoch).encode())
    return epoch


def secret_key(data_dir: Path) -> bytes:
    """Signing key for session cookies, made once and kept private; an empty
    or short one (a crash while writing it) is replaced, which logs everyone out."""
    path = Path(data_dir) / "secret_key"
    key = path.read_bytes() if path.is_file() else b""
    if len(key) < KEY_BYTES:
        if path.exists():
            log.warning("%s was empty or damaged; made a new one (admins must log in again)", path)
        key = os.urandom(KEY_BYTES)
        _write_private(path, key)
    return key
