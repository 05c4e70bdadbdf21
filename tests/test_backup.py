import datetime as dt
import sqlite3
import threading

import numpy as np
import pytest

from kiosk.backup import BackupError, backup, restore, verify
from kiosk.store import Store
from tests.helpers import punch


def dump(path):
    db = sqlite3.connect(path)
    rows = list(db.iterdump())
    db.close()
    return rows


def test_backup_under_a_busy_writer_restores_identically(tmp_path):
    store = Store(tmp_path / "live.db")
    ids = [
        store.add_employee(
            f"P{i}",
            image=None,
            face=None,
            crop=np.full((16, 16, 3), i, np.uint8),
            embedding=np.ones(4, np.float32),
            model_version="v",
        )
        for i in range(3)
    ]
    stop = threading.Event()

    def writer():
        w = Store(tmp_path / "live.db")
        n = 0
        while not stop.is_set():
            n += 1
            punch(w, ids[n % 3], dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n))
        w.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(store.punch_log()) < 50:
            pass
        copy = backup(tmp_path / "live.db", tmp_path / "backups")
    finally:
        stop.set()
        thread.join()
    summary = verify(copy)
    assert summary["employees"] == 3 and summary["attendance_rows"] >= 50
    restored = tmp_path / "restored" / "kiosk.db"
    restore(copy, restored)
    assert dump(restored) == dump(copy)
    assert Store(restored).reference_crop(ids[2])[0, 0].tolist() == [2, 2, 2]


def test_restore_refuses_damaged_or_foreign_files(tmp_path):
    store = Store(tmp_path / "live.db")
    store.add_employee(
        "A", image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
    )
    copy = backup(tmp_path / "live.db", tmp_path / "b")
    with open(copy, "r+b") as f:
        f.seek(2000)
        f.write(b"\xff" * 100)
    with pytest.raises(BackupError, match="checksum"):
        restore(copy, tmp_path / "new.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(BackupError, match="missing tables"):
        verify(other)
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(BackupError, match="not a kiosk database"):
        verify(text)
    assert not (tmp_path / "new.db").exists()
