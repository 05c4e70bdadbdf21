import datetime as dt
import sqlite3

import numpy as np
import pytest

from kiosk.store import Store, UnknownEmployee

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 23, 8, 59, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "kiosk.db")
    yield s
    s.close()


def crop(value=100):
    return np.full((64, 64, 3), value, np.uint8)


def add(store, name, picture, embedding, version):
    """An employee enrolled with a crop only (as before reference images)."""
    return store.add_employee(name, image=None, face=None, crop=picture, embedding=embedding, model_version=version)


def unit(i, d=8):
    v = np.zeros(d, np.float32)
    v[i] = 1
    return v


def test_enroll_list_gallery_and_reference_crop(store):
    a = add(store, "  Alice ", crop(10), unit(0), "v1")
    b = add(store, "Bob", crop(20), unit(1), "v1")
    assert [(e.id, e.name) for e in store.employees()] == [(a, "Alice"), (b, "Bob")]
    gallery = store.gallery("v1")
    assert gallery.ids.tolist() == [a, b] and gallery.names == ["Alice", "Bob"]
    np.testing.assert_array_equal(gallery.embeddings, np.stack([unit(0), unit(1)]))
    assert store.reference_crop(b)[0, 0].tolist() == [20, 20, 20]
    assert len(store.gallery("v2")) == 0


def test_every_change_bumps_the_generation(store):
    g0 = store.generation()
    a = add(store, "Alice", crop(), unit(0), "v1")
    store.rename(a, "Alicia")
    store.replace_reference(a, image=None, face=None, crop=crop(50), embedding=unit(2), model_version="v1")
    store.remove_employee(a)
    assert store.generation() == g0 + 4


def test_removal_deletes_face_keeps_history_unless_purged(store):
    a = add(store, "Alice", crop(), unit(0), "v1")
    b = add(store, "Bob", crop(), unit(1), "v1")
    for e in (a, b):
        store.record_punch(e, at=T0, distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60)
    store.remove_employee(a)
    with pytest.raises(UnknownEmployee):
        store.reference_crop(a)
    assert len(store.attendance(employee_id=a)) == 1
    store.remove_employee(b, purge_attendance=True)
    assert store.attendance(employee_id=b) == []
    with pytest.raises(UnknownEmployee):
        store.remove_employee(12345)


def test_punches_toggle_in_out_and_respect_the_cooldown(store):
    a = add(store, "Alice", crop(), unit(0), "v1")
    first = store.record_punch(a, at=T0, distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60)
    assert first.direction == "in"
    assert store.record_punch(a, at=T0 + dt.timedelta(seconds=30), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60) is None
    second = store.record_punch(a, at=T0 + dt.timedelta(hours=8), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60)
    assert second.direction == "out"
    next_day = store.record_punch(a, at=T0 + dt.timedelta(days=1), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60)
    assert next_day.direction == "in"
    assert [r["direction"] for r in store.attendance("2026-11-23", "2026-11-23")] == ["in", "out"]


def test_punch_times_need_a_timezone(store):
    a = add(store, "Alice", crop(), unit(0), "v1")
    with pytest.raises(ValueError, match="timezone"):
        store.record_punch(a, at=dt.datetime(2026, 1, 1), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=0)


def test_attendance_is_append_only(store):
    a = add(store, "Alice", crop(), unit(0), "v1")
    store.record_punch(a, at=T0, distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=0)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE attendance SET direction = 'out'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM attendance")


def test_reference_image_and_face_are_kept_and_embeddings_updated(store):
    from kiosk.detection import Detection

    image = np.zeros((256, 256, 3), np.uint8)
    image[100:150, 90:160] = (10, 200, 30)  # BGR
    face = Detection(np.array([80, 70, 180, 170], np.float32), 0.9, np.arange(12, dtype=np.float32).reshape(6, 2))
    a = store.add_employee("Alice", image=image, face=face, crop=crop(10), embedding=unit(0), model_version="old")
    ref = store.reference(a)
    np.testing.assert_array_equal(ref.image, image)
    np.testing.assert_array_equal(ref.face.keypoints, face.keypoints)
    assert ref.model_version == "old" and store.stale_references("new") == [a]
    store.update_embedding(a, crop(20), unit(3), "new")
    np.testing.assert_array_equal(store.gallery("new").embeddings[0], unit(3))
    assert store.stale_references("new") == [] and store.reference_crop(a)[0, 0].tolist() == [20, 20, 20]


def test_a_database_from_before_reference_images_is_migrated(tmp_path):
    """Schema 1 (no version number, crops only) opens as schema 2 with everyone kept."""
    from kiosk.store import SCHEMA_VERSION, encode_png

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE employees (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, created TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);
        CREATE TABLE reference_faces (employee_id INTEGER PRIMARY KEY REFERENCES employees(id), crop_png BLOB NOT NULL,
                                      embedding BLOB NOT NULL, model_version TEXT NOT NULL);
        CREATE TABLE attendance (id INTEGER PRIMARY KEY AUTOINCREMENT, employee_id INTEGER NOT NULL, at TEXT NOT NULL, day TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')), distance REAL, kiosk_id TEXT NOT NULL, model_version TEXT,
            kind TEXT NOT NULL DEFAULT 'punch' CHECK (kind IN ('punch', 'correction')), author TEXT, note TEXT);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('gallery_generation', '3');
        INSERT INTO employees (name, created) VALUES ('Old Timer', '2026-01-01T00:00:00+00:00');
    """)
    old.execute("INSERT INTO reference_faces VALUES (1, ?, ?, 'v64')", (encode_png(crop(42)), unit(1).tobytes()))
    old.execute("INSERT INTO attendance (employee_id, at, day, direction, kiosk_id) VALUES (1, '2026-01-02T08:00:00+00:00', '2026-01-02', 'in', 'k')")
    old.commit()
    old.close()
    store = Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    ref = store.reference(1)
    assert ref.image is None and ref.face is None and ref.crop[0, 0].tolist() == [42, 42, 42]
    assert [e.name for e in store.employees()] == ["Old Timer"] and len(store.attendance()) == 1
    assert store.generation() == 3 and store.stale_references("dlib150") == [1]
    store.close()
    Store(path).close()  # opening again changes nothing


def test_a_database_from_a_newer_kiosk_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(sqlite3.DatabaseError, match="newer than this kiosk"):
        Store(path)


def test_empty_names_are_refused(store):
    with pytest.raises(ValueError):
        add(store, "   ", crop(), unit(0), "v1")
