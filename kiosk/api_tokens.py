"""The REST API's bearer tokens: what a token looks like, the scopes it may
carry, and their storage (table ``api_tokens``, schema 8) in a store; and the
per-token rate limit.

A token is ``kiosk_<id>_<secret>``. Only the secret's SHA-256 is stored, so a
copy of the database (a backup, a stolen card) gives no working token; the id
finds the row (it is no secret), and the hashes are then compared in constant
time, so the time a wrong token takes says nothing about the right one.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

READ, WRITE = "read", "write"
SCOPES = (READ, WRITE)
PREFIX = "kiosk_"
SECRET_BYTES = 32  # 256 bits: guessing is hopeless, so a fast hash (not a password hash) is enough
MAX_NAME = 60
# A token's name goes into the log with every write, so no line breaks or other surprises in it.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*\Z")
_TOKEN = re.compile(r"kiosk_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})\Z")  # token_urlsafe(32) is 43 characters
TOUCH_SECONDS = 60  # "last used" is kept to about a minute, not written on every request


class TokenError(ValueError):
    """A token that cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class ApiToken:
    """A token as the admin page lists it (never the token itself)."""

    id: int
    name: str
    scopes: tuple[str, ...]
    created: str
    last_used: str | None = None
    revoked: str | None = None

    def allows(self, scope: str) -> bool:
        return self.revoked is None and scope in self.scopes


def clean_token_name(raw: str) -> str:
    name = (raw or "").strip()
    if not name:
        raise TokenError("Give the token a name, such as the system that will use it (e.g. payroll-sync).")
    if len(name) > MAX_NAME:
        raise TokenError(f"Token names can have at most {MAX_NAME} characters (this one has {len(name)}).")
    if not _NAME.match(name):
        raise TokenError(
            "Token names may use letters A-Z, digits, spaces, dots, dashes and underscores, starting with a letter or digit."
        )
    return name


def clean_scopes(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    chosen = set(raw or ())
    if not chosen:
        raise TokenError("Choose at least one scope: read, write or both.")
    if unknown := chosen - set(SCOPES):
        raise TokenError(f"Unknown scope {sorted(unknown)[0]!r}: the scopes are read and write.")
    return tuple(s for s in SCOPES if s in chosen)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class ApiTokens:
    """The ``api_tokens`` table of a store (a kiosk's own, or a fleet member's local one:
    each door has its own tokens, like its own admin password)."""

    def __init__(self, store, clock: Callable[[], str] = _now):
        self.store, self.clock = store, clock

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def create(self, name: str, scopes: list[str] | tuple[str, ...]) -> tuple[ApiToken, str]:
        """A new token; returns it with the token itself, which is shown this once and never stored."""
        name, scopes = clean_token_name(name), clean_scopes(scopes)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        created = self.clock()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")  # the name's check and the insert, with no other token made between
            if self.db.execute("SELECT 1 FROM api_tokens WHERE name = ? AND revoked IS NULL", (name,)).fetchone():
                raise TokenError(f"A token named {name!r} is in use; revoke it first or choose another name.")
            cur = self.db.execute(
                "INSERT INTO api_tokens (name, secret_sha256, scopes, created) VALUES (?, ?, ?, ?)",
                (name, digest(secret), " ".join(scopes), created),
            )
        token_id = int(cur.lastrowid)
        return ApiToken(token_id, name, scopes, created), f"{PREFIX}{token_id}_{secret}"

    def all(self) -> list[ApiToken]:
        """Every token, the ones in use first, newest first."""
        rows = self.db.execute(
            "SELECT id, name, scopes, created, last_used, revoked FROM api_tokens ORDER BY revoked IS NOT NULL, id DESC"
        )
        return [_token(row) for row in rows]

    def revoke(self, token_id: int) -> ApiToken:
        """Revoke a token (it stays listed); KeyError when there is no such token in use."""
        with self.db:
            cur = self.db.execute("UPDATE api_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (self.clock(), token_id))
            if cur.rowcount == 0:
                raise KeyError(token_id)
        row = self.db.execute(
            "SELECT id, name, scopes, created, last_used, revoked FROM api_tokens WHERE id = ?", (token_id,)
        ).fetchone()
        return _token(row)

    def verify(self, token: str) -> ApiToken | None:
        """The token in use that ``token`` is, or None (unknown, malformed or revoked)."""
        found = _TOKEN.match(token or "")
        if found is None:
            return None
        row = self.db.execute(
            "SELECT id, name, scopes, created, last_used, revoked, secret_sha256 FROM api_tokens WHERE id = ?",
            (int(found.group(1)),),
        ).fetchone()
        # Hash and compare even when no row was found, so both cases take the same time.
        stored = row[6] if row is not None else "0" * 64
        if not hmac.compare_digest(stored, digest(found.group(2))) or row is None or row[5] is not None:
            return None
        found_token = _token(row[:6])
        self._touch(found_token)
        return found_token

    def _touch(self, token: ApiToken) -> None:
        now = self.clock()
        last = token.last_used
        if last is not None and _seconds_between(last, now) < TOUCH_SECONDS:
            return
        with self.db:
            self.db.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?", (now, token.id))


def _seconds_between(earlier: str, later: str) -> float:
    try:
        return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()
    except (TypeError, ValueError):
        return math.inf


def _token(row) -> ApiToken:
    return ApiToken(int(row[0]), row[1], tuple(row[2].split()), row[3], row[4], row[5])


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds per key (a sliding window of
    request times, in memory: a restart forgets it, which errs towards the caller)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._lock = threading.Lock()
        self._seen: dict[object, collections.deque] = collections.defaultdict(collections.deque)

    def take(self, key) -> float:
        """Count a request of ``key``: 0 when allowed, else the seconds until one more would be (nothing counted)."""
        now = self.clock()
        with self._lock:
            seen = self._seen[key]
            while seen and now - seen[0] >= self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return max(seen[0] + self.window - now, 0.001)
            seen.append(now)
            return 0.0
