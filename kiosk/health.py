"""Is the kiosk process healthy? One answer for systemd's watchdog and
/healthz: the web server answers, the recognition loop makes progress (when
a camera is configured), and the database file is still the one opened."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str = ""


def judge(
    *,
    web_alive: bool,
    loop_expected: bool,
    loop_alive: bool,
    last_progress: float,
    now: float,
    stall_seconds: float,
    database_problem: str | None,
) -> Verdict:
    """Pure rule: what makes the process unhealthy."""
    if database_problem:
        return Verdict(False, database_problem)
    if not web_alive:
        return Verdict(False, "the web server thread has stopped")
    if loop_expected:
        if not loop_alive:
            return Verdict(False, "the recognition loop has stopped")
        if now - last_progress > stall_seconds:
            return Verdict(False, f"the recognition loop has made no progress for {now - last_progress:.0f} s")
    return Verdict(True)


class Heartbeat:
    """Feeds the watchdog every ``interval`` seconds while ``check()`` says
    healthy; otherwise tells systemd why, stops feeding (so it restarts us)
    and calls ``on_fatal`` once."""

    def __init__(self, notifier, check: Callable[[], Verdict], interval: float, on_fatal: Callable[[str], None]):
        self.notifier, self.check, self.interval, self.on_fatal = notifier, check, interval, on_fatal
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.failed: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def beat(self) -> Verdict:
        verdict = self.check()
        if verdict.healthy:
            self.notifier.watchdog()
        elif self.failed is None:
            self.failed = verdict.reason
            log.error("unhealthy: %s", verdict.reason)
            self.notifier.status(f"unhealthy: {verdict.reason}")
            self.on_fatal(verdict.reason)
        return verdict

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
