"""The sync thread of a fleet member, and the state it reports."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field

from kiosk.fleet.central import Central, CentralError, Unreachable
from kiosk.fleet.replica import Replica

log = logging.getLogger(__name__)


@dataclass
class SyncState:
    """What the admin status page and /status show of a member's sync."""

    state: str = "starting"  # starting, connected, offline
    backlog: int = 0  # entries recorded here that the fleet database does not have yet
    last_sync: str | None = None  # ISO time of the last complete exchange
    offline_since: str | None = None
    problem: str | None = None
    gallery_revision: int = 0
    set_aside: int = field(default=0, init=False)  # entries the fleet database refused for their content, kept here
    set_aside_reason: str | None = field(default=None, init=False)  # why the latest of them was refused
    punch_gap: str | None = field(default=None, init=False)  # the last hole seen in the database's punch numbers
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, init=False)

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "state": self.state,
                "backlog": self.backlog,
                "last_sync": self.last_sync,
                "offline_since": self.offline_since,
                "problem": self.problem,
                "gallery_revision": self.gallery_revision,
                "set_aside": self.set_aside,
                "set_aside_reason": self.set_aside_reason,
                "punch_gap": self.punch_gap,
            }


class Replicator:
    """Send the outbox, then pull gallery changes and other doors' entries;
    wait for a change notice (within a second of a change), a local punch
    (``wake``), or ``interval`` seconds; retry with a growing pause while the
    database is away."""

    def __init__(
        self, replica: Replica, central: Central, *, site: str, model_version: str, interval: float = 30.0, batch: int = 500
    ):
        self.replica, self.central = replica, central
        self.site, self.model_version = site, model_version
        self.interval = interval
        self.batch = batch  # entries per transaction sent up
        self.state = SyncState()
        self.wake = threading.Event()  # set after a local punch: send it now
        self.stop_event = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def sync_once(self) -> None:
        replica = self.replica
        while batch := replica.outbox_batch(self.site, self.batch):
            if refused := self.central.push(batch):
                log.warning(
                    "the fleet database refused %d entries, set aside here: %s", len(refused), next(iter(refused.values()))
                )
                replica.set_aside(refused)
            replica.outbox_done([p.uuid for p in batch if p.uuid not in refused])
        replica.remember_model_version(self.model_version)
        replica.pull_gallery(self.central, self.model_version)
        self._pull_punches()
        set_aside, reason = replica.set_aside_summary()
        with self.state.lock:
            self.state.state, self.state.problem, self.state.offline_since = "connected", None, None
            self.state.backlog, self.state.gallery_revision = replica.backlog(), replica.gallery_revision()
            self.state.set_aside, self.state.set_aside_reason = set_aside, reason
            self.state.last_sync = dt.datetime.now().astimezone().isoformat(timespec="seconds")

    def _pull(self, checked: float) -> tuple[int, tuple[int, int] | None]:
        """Other doors' entries since the last one applied; returns how many were new, and the
        first hole in the numbers above ``checked`` (the database numbers them densely)."""
        replica, new, hole = self.replica, 0, None
        while punches := self.central.punches_after(position := replica.punch_position()):
            for p in punches:
                if hole is None and p.seq != position + 1 and p.seq > checked:
                    hole = (position, p.seq)
                position = p.seq
            new += replica.apply_punches(punches)
        return new, hole

    def _pull_punches(self) -> None:
        """Pull, and read everything again when a hole shows (a row numbered by hand, or one this
        member cannot see) or when this version never has: before schema 2 a member could number a
        row 1000000000 and move every door's position past the punches to come."""
        replica = self.replica
        start, checked = replica.punch_position(), replica.punches_checked()
        # Before the first check, holes are old numbering (rows sent twice used numbers up): read everything instead.
        _, hole = self._pull(float("inf") if checked is None else checked)
        if hole is None and (checked is not None or start == 0):  # from 0, every punch was read just now
            replica.checked_through(replica.punch_position())
            return
        replica.read_again()
        found, _ = self._pull(float("inf"))
        replica.checked_through(replica.punch_position())
        what = f"punch numbers jump from {hole[0]} to {hole[1]}" if hole else "first check of this door's punches"
        message = f"{what}: every punch was read again, and {found} were missing here"
        if hole is None and not found:
            log.info("fleet database: %s", message)
            return
        log.warning("fleet database: %s", message)
        with self.state.lock:
            self.state.punch_gap = f"{dt.datetime.now().astimezone().isoformat(timespec='seconds')}: {message}"

    def run(self) -> None:
        pause = 1.0
        try:
            while not self.stop_event.is_set():
                self.wake.clear()
                try:
                    self.sync_once()
                    pause = 1.0
                    self.central.wait(self.interval, woken=self.wake)
                except Exception as exc:  # a fault here must not end syncing for good: report it and retry
                    if not isinstance(exc, CentralError):
                        log.exception("fleet sync failed; retrying")
                        exc = CentralError(f"sync failed: {type(exc).__name__}")
                    self._offline(exc)
                    self.wake.wait(pause)
                    pause = min(pause * 2, 15.0)
        finally:
            self.replica.store.release()  # this thread's connection

    def _offline(self, exc: CentralError) -> None:
        with self.state.lock:
            if self.state.state != "offline":
                log.warning("fleet database: %s; recording here until it is back", exc)
                self.state.offline_since = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            elif not isinstance(exc, Unreachable):
                log.warning("fleet database: %s", exc)
            self.state.state, self.state.problem = "offline", str(exc)
            self.state.backlog = self.replica.backlog()
