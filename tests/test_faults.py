"""Faults against real processes: hard kills while punching, the database
deleted or replaced under a running kiosk, a restore and a second kiosk
while one runs."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from kiosk.store import Store

WRITER = textwrap.dedent("""
    import datetime as dt, sys
    import numpy as np
    from kiosk.store import Store
    from tests.helpers import punch
    store = Store(sys.argv[1])
    ids = [e.id for e in store.employees()] or [store.add_employee(f"P{i}", image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8),
                                                                 embedding=np.ones(4, np.float32), model_version="v") for i in range(5)]
    t = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(days=int(sys.argv[2]))
    n = 0
    while True:
        n += 1
        entry = punch(store, ids[n % len(ids)], t + dt.timedelta(seconds=n))
        print(entry.id, flush=True)   # acknowledged only once committed
""")


@pytest.mark.slow
def test_kill_9_while_punching_a_hundred_times_loses_nothing_acknowledged(tmp_path):
    db = tmp_path / "kiosk.db"
    rng = random.Random(0)
    acknowledged: list[int] = []
    for run in range(100):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(run)], stdout=subprocess.PIPE, text=True)
        wanted = rng.randint(1, 30)
        got = 0
        for line in proc.stdout:
            acknowledged.append(int(line))
            got += 1
            if got == wanted:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=20)
        assert proc.returncode == -signal.SIGKILL
        check = sqlite3.connect(db)
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"run {run}"
        stored = {r[0] for r in check.execute("SELECT id FROM attendance")}
        check.close()
        assert set(acknowledged) <= stored, f"run {run}: lost {sorted(set(acknowledged) - stored)[:5]}"
    assert len(acknowledged) > 100


def start_kiosk(tmp_path, port, *extra, watchdog_usec="1000000"):
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"), WATCHDOG_USEC=watchdog_usec, NOTIFY_SOCKET="")
    config = tmp_path / f"kiosk-{port}.toml"
    config.write_text(f"[camera]\nsource = 'none'\n[web]\nport = {port}\n")
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk", "-c", str(config), "run", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, seconds=40.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def running(tmp_path):
    proc = start_kiosk(tmp_path, 18741)
    assert wait_for(lambda: (tmp_path / "data" / "kiosk.db").exists()), "the kiosk did not start"
    time.sleep(1.5)  # past start-up, into its heartbeat
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_deleted_database_stops_the_kiosk_saying_why(tmp_path, running):
    (tmp_path / "data" / "kiosk.db").unlink()
    assert wait_for(lambda: running.poll() is not None), "the kiosk went on without its database"
    _, err = running.communicate(timeout=20)
    assert running.returncode == 1 and "the database file was deleted while the kiosk was running" in err


def test_a_replaced_database_stops_the_kiosk_saying_why(tmp_path, running):
    db = tmp_path / "data" / "kiosk.db"
    Store(tmp_path / "other.db").close()
    os.replace(tmp_path / "other.db", db)
    assert wait_for(lambda: running.poll() is not None), "the kiosk went on with a replaced database"
    _, err = running.communicate(timeout=20)
    assert running.returncode == 1 and "the database file was replaced while the kiosk was running" in err


def test_a_restore_and_a_second_kiosk_are_refused_while_one_runs(tmp_path, running):
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"))
    backup = subprocess.run(
        [sys.executable, "-m", "kiosk", "backup", str(tmp_path / "b")], env=env, capture_output=True, text=True, timeout=60
    )
    assert backup.returncode == 0, backup.stderr  # backups are fine while it runs
    restore = subprocess.run(
        [sys.executable, "-m", "kiosk", "restore", backup.stdout.strip()], env=env, capture_output=True, text=True, timeout=60
    )
    assert restore.returncode == 1 and "a kiosk is running on this data folder" in restore.stderr
    second = start_kiosk(tmp_path, 18742)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and "a kiosk is running on this data folder" in err
    assert running.poll() is None  # the first one carries on
