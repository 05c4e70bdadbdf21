"""The webhooks' durable queue, in the kiosk's database (``migrations/0009_webhook_events.sql``).

Punches and corrections are queued by triggers in the transaction that
appends them; spoofs and the camera's outages by :meth:`WebhookQueue.add`.
Each URL keeps its place in the one queue (``webhook_targets``), so every URL
gets every event once and in order, and an event leaves the queue when every
URL has had it (or given it up). With no URLs configured nothing is queued and
nothing is kept.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass

# What an event's body reads of its entry, with the entry it corrects and the person's name (left out unless asked for).
_ENTRY_SQL = (
    "SELECT a.id, a.uuid, a.employee_id, a.at, a.day, a.direction, a.kind, a.kiosk_id, a.author, a.note, "
    "t.id AS target_id, t.uuid AS target_uuid, p.name, p.employee_number "
    "FROM attendance a LEFT JOIN attendance t ON t.id = a.target_id LEFT JOIN employees p ON p.id = a.employee_id "
    "WHERE a.id = ?"
)


def target_key(url: str) -> str:
    """How a URL is known in the database: its SHA-256 (a URL may carry a secret in its path or query)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class QueuedEvent:
    """One event as queued: ``number`` orders the queue, ``event_id`` (a UUID) names it to receivers.
    ``entry`` is the attendance row of a punch or correction (with ``name``), ``data`` the rest's details."""

    number: int
    event_id: str
    kind: str
    queued: float  # Unix time
    entry: dict | None
    data: dict | None


class WebhookQueue:
    """The queue on a store's connections (one per thread, see kiosk.database_file)."""

    def __init__(self, store, clock=time.time):
        self.store = store
        self.clock = clock

    @property
    def db(self):
        return self.store.db

    def configure(self, urls: list[str]) -> None:
        """Queue for these URLs from now on. A URL new to the queue starts with the events queued after
        this (not what others have yet to receive); a URL no longer configured loses its place; with no
        URLs at all the triggers stop queueing and the queue is emptied."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if not urls:
                self.db.execute("DELETE FROM meta WHERE key = 'webhooks'")
                self.db.execute("DELETE FROM webhook_targets")
                self.db.execute("DELETE FROM webhook_events")
                return
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('webhooks', '1')")
            keys = [target_key(url) for url in urls]
            last = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM webhook_events").fetchone()[0]
            self.db.executemany("INSERT OR IGNORE INTO webhook_targets VALUES (?, ?)", [(k, last) for k in keys])
            self.db.execute(f"DELETE FROM webhook_targets WHERE target NOT IN ({','.join('?' * len(keys))})", keys)
            self._prune()

    def add(self, kind: str, data: dict, at: float | None = None) -> str:
        """Queue an event that is not an entry (a spoof, the camera going down or coming back); its id."""
        event_id = str(uuid.uuid4())
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("SELECT value FROM meta WHERE key = 'webhooks'").fetchone() is not None:
                self.db.execute(
                    "INSERT INTO webhook_events (event_id, kind, queued, data) VALUES (?, ?, ?, ?)",
                    (event_id, kind, self.clock() if at is None else at, json.dumps(data)),
                )
        return event_id

    def next_for(self, url: str) -> QueuedEvent | None:
        """The oldest event ``url`` has not had, or None."""
        row = self.db.execute(
            "SELECT e.* FROM webhook_events e JOIN webhook_targets t ON e.id > t.sent_up_to WHERE t.target = ? "
            "ORDER BY e.id LIMIT 1",
            (target_key(url),),
        ).fetchone()
        if row is None:
            return None
        entry = None
        if row["entry_id"] is not None:
            found = self.db.execute(_ENTRY_SQL, (row["entry_id"],)).fetchone()
            entry = dict(found) if found is not None else None
        data = json.loads(row["data"]) if row["data"] else None
        return QueuedEvent(row["id"], row["event_id"], row["kind"], row["queued"], entry, data)

    def done(self, url: str, number: int) -> None:
        """``url`` has had event ``number`` (delivered or given up); events every URL has had leave the queue."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "UPDATE webhook_targets SET sent_up_to = ?1 WHERE target = ?2 AND sent_up_to < ?1", (number, target_key(url))
            )
            self._prune()

    def waiting(self, url: str) -> int:
        """How many events ``url`` has yet to receive."""
        return self.db.execute(
            "SELECT COUNT(*) FROM webhook_events e JOIN webhook_targets t ON e.id > t.sent_up_to WHERE t.target = ?",
            (target_key(url),),
        ).fetchone()[0]

    def _prune(self) -> None:
        self.db.execute("DELETE FROM webhook_events WHERE id <= (SELECT MIN(sent_up_to) FROM webhook_targets)")
