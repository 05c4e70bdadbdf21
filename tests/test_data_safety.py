"""The second audit (issue 24), findings 8 and 9: a database deleted by
mistake is not silently replaced by an empty one, a restore keeps what it
replaces and warns of what it would lose, and the running kiosk makes its
own daily backups for the "restore a backup" messages to point at."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from kiosk.backup import DAY_SECONDS, BackupIsOlder, DailyBackups, backup, backups_in, restore
from kiosk.config import Config, KioskSettings
from kiosk.database_file import StoreError, marker_path
from kiosk.store import Store
from tests.helpers import punch

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def kiosk(data, *args):
    env = dict(os.environ, KIOSK_DATA_DIR=str(data))
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=env, timeout=120)


def person(store, name="Alice"):
    return store.add_employee(
        name, image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
    )


def rows(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM attendance").fetchone()[0]
    finally:
        db.close()


# -- 8. a deleted database comes back empty and silent -------------------------------------------------
def test_8_a_deleted_database_is_refused_naming_the_file_and_the_way_out(tmp_path):
    db = tmp_path / "data" / "kiosk.db"
    store = Store(db)
    punch(store, person(store), T0)
    backup(db, tmp_path / "data" / "backups")
    store.close()
    assert marker_path(db).is_file()
    for name in ("kiosk.db", "kiosk.db-wal", "kiosk.db-shm"):
        (db.parent / name).unlink(missing_ok=True)

    with pytest.raises(StoreError) as refused:
        Store(db)
    message = str(refused.value)
    assert f"{db}: the kiosk database is missing" in message
    assert "kiosk restore" in message and "kiosk-" in message  # the newest backup, by name
    assert f"delete {marker_path(db)} to start with no one enrolled" in message
    assert not db.exists()  # nothing was created in its place

    run = kiosk(db.parent, "run", "--source", "none")
    assert run.returncode == 1 and "the kiosk database is missing" in run.stderr
    check = kiosk(db.parent, "check-config")
    assert check.returncode == 2 and "the kiosk database is missing" in check.stderr and str(marker_path(db)) in check.stderr

    marker_path(db).unlink()  # starting empty on purpose
    assert Store(db).employees() == []


def test_8_a_database_deleted_under_a_running_kiosk_says_it_will_not_start_empty(tmp_path):
    db = tmp_path / "kiosk.db"
    store = Store(db)
    db.unlink()
    with pytest.raises(StoreError, match="deleted while the kiosk was running; stopping, and it will not start empty"):
        store.check_file()


# -- 9. a restore destroys the newer database ------------------------------------------------------------
def test_9_restore_refuses_an_older_backup_without_force_and_keeps_what_it_replaces(tmp_path):
    data = tmp_path / "data"
    db = data / "kiosk.db"
    store = Store(db)
    alice = person(store)
    for n in range(3):
        punch(store, alice, T0 + dt.timedelta(minutes=n))
    old = backup(db, tmp_path / "b")
    for n in range(3, 8):
        punch(store, alice, T0 + dt.timedelta(minutes=n))
    # The open connection keeps the newest punches in the WAL, as a running kiosk's would.
    assert (data / "kiosk.db-wal").stat().st_size > 0

    refused = kiosk(data, "restore", str(old))
    assert refused.returncode == 1
    assert "holds 5 attendance entries the backup lacks" in refused.stderr and "--force" in refused.stderr
    assert rows(db) == 8

    done = kiosk(data, "restore", "--force", str(old))
    assert done.returncode == 0, done.stderr
    kept = [p for p in data.iterdir() if p.name.startswith("kiosk-replaced-") and p.suffix == ".db"]
    assert len(kept) == 1 and f"kept as {kept[0]}" in done.stdout
    store.close()
    assert rows(db) == 3 and rows(kept[0]) == 8  # nothing destroyed: the replaced file, WAL and all

    with pytest.raises(BackupIsOlder):
        restore(old, kept[0])
    assert restore(backup(db, tmp_path / "b"), db)["missing"] == 0  # as new as the database: no question asked


def test_9_daily_backups_are_made_when_due_and_the_newest_n_kept(tmp_path):
    db = tmp_path / "data" / "kiosk.db"
    store = Store(db)
    punch(store, person(store), T0)
    manual = backup(db, tmp_path / "data" / "backups")
    now = [time.time()]
    daily = DailyBackups(db, keep=2, clock=lambda: now[0])
    assert daily.run_if_due() is None  # a manager's backup of today is fresh enough
    made = []
    for _ in range(4):
        now[0] += DAY_SECONDS
        made.append(daily.run_if_due())
        assert made[-1] is not None
        os.utime(made[-1], (now[0], now[0]))  # made "today" on the test's clock
        assert daily.run_if_due() is None  # once a day
    assert backups_in(db.parent / "backups", "kiosk-daily") == made[-2:]
    assert manual.exists()  # only the kiosk's own are pruned
    assert DailyBackups(db, keep=0, clock=lambda: now[0] + 9 * DAY_SECONDS).run_if_due() is None  # 0: off

    store.close()
    db.write_bytes(b"this is not sqlite at all" * 100)  # the damaged-database message points at the newest
    with pytest.raises(StoreError, match=f"kiosk restore {made[-1]}"):
        Store(db)


def test_9_the_running_kiosk_makes_a_backup_at_start_when_the_newest_is_a_day_old(tmp_path):
    from kiosk.composition import _start_daily_backups

    db = tmp_path / "kiosk.db"
    store = Store(db)
    punch(store, person(store), T0)
    daily = _start_daily_backups(Config(kiosk=KioskSettings(data_dir=tmp_path, backups=3)))
    try:
        deadline = time.monotonic() + 20
        while not backups_in(tmp_path / "backups", "kiosk-daily") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daily.stop()
    (made,) = backups_in(tmp_path / "backups", "kiosk-daily")
    assert rows(made) == 1
    off = _start_daily_backups(Config(kiosk=KioskSettings(data_dir=tmp_path / "off", backups=0)))
    off.stop()
    assert not (tmp_path / "off" / "backups").exists()
