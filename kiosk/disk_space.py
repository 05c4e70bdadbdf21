"""Room to record punches: why a punch could not be recorded (a full disk
above all), and the free space in the data folder, watched. A full disk
must never stop the door: the loop shows that it cannot record, /healthz
and the status page say why, and it carries on by itself when space returns."""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from kiosk.status import RecordingProblem, Status

log = logging.getLogger(__name__)


def disk_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full", or the system's "no space left on device"."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def recording_problem(exc: BaseException, folder: Path) -> RecordingProblem:
    """What to report when a punch could not be recorded because of ``exc``."""
    if disk_full(exc):
        return RecordingProblem(
            f"{folder}: the disk is full, so punches are not being recorded; free some space there "
            "(the kiosk records again by itself when there is room)",
            disk_full=True,
        )
    return RecordingProblem(f"punches are not being recorded: {exc}")


class DiskSpace:
    """The free space in the data folder, looked at every few seconds: a
    warning on ``status`` (and in the log, once as it falls) below
    ``min_free_mb``, and a full disk's recording problem cleared once there
    is room again (the next punch says whether there really is)."""

    def __init__(self, folder: Path, min_free_mb: int, status: Status, usage: Callable = shutil.disk_usage):
        self.folder, self.min_free_mb, self.status, self.usage = Path(folder), min_free_mb, status, usage

    def check(self) -> int | None:
        """Look now; returns the free space in MB (None when it cannot be read)."""
        try:
            free_mb = self.usage(self.folder).free // 2**20
        except OSError as exc:
            log.warning("cannot read the free space of %s: %s", self.folder, exc)
            return None
        if free_mb < self.min_free_mb:
            if self.status.disk_warning is None:
                log.warning("%s: only %d MB free (under [kiosk] min_free_mb = %d)", self.folder, free_mb, self.min_free_mb)
            self.status.disk_warning = (
                f"{self.folder}: only {free_mb} MB free (under [kiosk] min_free_mb = {self.min_free_mb}); "
                "free some space before punches can no longer be recorded"
            )
        elif self.status.disk_warning is not None:
            log.info("%s: %d MB free again", self.folder, free_mb)
            self.status.disk_warning = None
        problem = self.status.recording_problem
        if problem is not None and problem.disk_full and free_mb >= max(self.min_free_mb, 1):
            log.info("%s: there is room again (%d MB free); recording punches again", self.folder, free_mb)
            self.status.recording_problem = None
        return free_mb
