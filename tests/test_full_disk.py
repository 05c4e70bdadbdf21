"""The second audit (issue 24), finding 7: a full disk. The data folder is
put on a small tmpfs that is filled while the door punches: the loop goes
on and says it cannot record, /healthz and the status page say why, no
punch is claimed that was not recorded, none acknowledged is lost, and the
door records again by itself when space returns."""

from __future__ import annotations

import datetime as dt
import os
import queue
import sqlite3
import subprocess
import threading
import time

import numpy as np
import pytest

from kiosk.composition import build_encoder
from kiosk.config import BUNDLED_MODEL, AttendanceSettings, Config, KioskSettings
from kiosk.disk_space import DiskSpace, disk_full
from kiosk.quality import QualityResult
from kiosk.recognition import FrameResult
from kiosk.status import Status
from kiosk.store import Store
from kiosk.visits import Recognised
from kiosk.web import Services, create_app, passwords
from tests.helpers import PASSWORD, login, make_loop


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs: a disk that really fills."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (scripts/test.sh runs as root in CI)")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder):
    """Write until the disk is full; returns the file that holds the space."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert disk_full(exc)
    return filler


class Blank:
    """A camera that shows an empty scene, a hundred frames a second."""

    name = "blank"

    def read(self):
        time.sleep(0.01)
        return np.zeros((48, 64, 3), np.uint8)

    def close(self):
        pass


def test_7_a_full_disk_stops_neither_the_loop_nor_the_door_and_loses_no_acknowledged_punch(small_disk):
    data = small_disk / "data"
    store = Store(data / "kiosk.db")
    alice = store.add_employee(
        "Alice", image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
    )
    passwords.set_password(data, PASSWORD)
    minutes = iter(range(10**6))
    status = Status()
    loop = make_loop(
        store,
        build_encoder(BUNDLED_MODEL),
        open_camera=Blank,
        rules=AttendanceSettings(cooldown_seconds=0, timezone="UTC"),
        status=status,
        clock=lambda: dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=next(minutes)),
    )
    # The door names Alice whenever the test says so (recognising faces is not what is tested here).
    arrivals: queue.Queue = queue.Queue()
    nobody = FrameResult(QualityResult(False, "no_face"))
    loop.decision.step = lambda frame, now: (nobody, [arrivals.get()] if not arrivals.empty() else [])
    outcomes: list = []  # per punch: the entry the screen welcomed, or None for "cannot record"
    punched, cannot = loop.screen.punched, loop.screen.cannot_record
    loop.screen.punched = lambda person, outcome, now: (outcomes.append(outcome.entry), punched(person, outcome, now))
    loop.screen.cannot_record = lambda now: (outcomes.append(None), cannot(now))

    def arrive():
        before = len(outcomes)
        arrivals.put(Recognised(alice, 0.1))
        deadline = time.monotonic() + 10
        while len(outcomes) == before:
            assert worker.is_alive() and time.monotonic() < deadline, f"the loop stopped: {loop.error}"
            time.sleep(0.01)
        return outcomes[-1]

    web = create_app(Config(kiosk=KioskSettings(data_dir=data)), Services(status, loop.app), {"TESTING": True}).test_client()
    login(web)
    watch = DiskSpace(data, 1, status)
    worker = threading.Thread(target=loop.run, daemon=True)
    worker.start()
    try:
        assert all(arrive() is not None for _ in range(3))
        filler = fill(small_disk)
        for _ in range(60):  # the WAL may have room for a few more
            if arrive() is None:
                break
        else:
            pytest.fail("60 punches were recorded on a full disk")
        assert worker.is_alive() and status.screen.title == "Cannot record right now"
        assert status.snapshot()["message"] == "Cannot record right now - please tell your manager"
        frames = status.frames
        time.sleep(0.3)
        assert status.frames > frames  # the door still looks

        health = web.get("/healthz")
        assert health.status_code == 503 and "the disk is full" in health.get_json()["reason"]
        assert "Punches cannot be recorded now" in web.get("/admin/status").get_data(as_text=True)
        watch.check()
        assert status.disk_warning and "min_free_mb" in status.disk_warning
        assert arrive() is None  # still full: still not claimed

        filler.unlink()  # space returns
        watch.check()
        assert status.recording_problem is None and status.disk_warning is None
        assert web.get("/healthz").status_code == 200
        assert arrive() is not None
    finally:
        loop.stop()
        worker.join(timeout=10)
        store.close()

    acknowledged = [entry.id for entry in outcomes if entry is not None]
    db = sqlite3.connect(data / "kiosk.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM attendance")}
    db.close()
    assert set(acknowledged) <= stored and len(stored) == len(acknowledged)  # none lost, none recorded unclaimed
    assert outcomes.count(None) >= 2
