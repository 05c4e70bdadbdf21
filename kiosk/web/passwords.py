"""The admin password, stored only as a salted hash beside the database."""

from __future__ import annotations

import os
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 10


def password_file(data_dir: Path) -> Path:
    return Path(data_dir) / "admin_password"


def is_set(data_dir: Path) -> bool:
    return password_file(data_dir).is_file()


def set_password(data_dir: Path, password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
    path = password_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(generate_password_hash(password))
    tmp.replace(path)


def check(data_dir: Path, password: str) -> bool:
    path = password_file(data_dir)
    return path.is_file() and check_password_hash(path.read_text().strip(), password)


def secret_key(data_dir: Path) -> bytes:
    """Signing key for session cookies, made once and kept private."""
    path = Path(data_dir) / "secret_key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    return path.read_bytes()
