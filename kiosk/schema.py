"""The database schema as numbered plain SQL steps (``kiosk/migrations/NNNN_*.sql``).

A new database gets every step; an older one the steps after its
``PRAGMA user_version``, all in one transaction, once, when the store opens it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaError(RuntimeError):
    """The database was written by a newer kiosk."""


def steps() -> dict[int, Path]:
    """The migration files by the number they bring a database to."""
    return {int(p.name.split("_", 1)[0]): p for p in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))}


SCHEMA_VERSION = max(steps())


def statements(script: str) -> list[str]:
    """A script's statements one by one (executescript would commit the open transaction)."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    return found


def migrate(db: sqlite3.Connection) -> list[int]:
    """Bring the database up to SCHEMA_VERSION; returns the steps applied."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema {version} is newer than this kiosk's ({SCHEMA_VERSION}): it was written by a "
            "newer version; upgrade the kiosk software"
        )
    if version == SCHEMA_VERSION:
        return []
    db.execute("BEGIN IMMEDIATE")
    try:
        if version == 0 and db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'reference_faces'").fetchone()[0]:
            version = 1  # databases from before versioning are schema 1
        applied = [n for n in sorted(steps()) if n > version]
        for number in applied:
            for statement in statements(steps()[number].read_text(encoding="utf-8")):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied
