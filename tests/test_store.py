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


def unit(i, d=8):
    v = np.zeros(d, np.float32)
    v[i] = 1
    return v


def test_enroll_list_gallery_and_reference_crop(store):
    a = store.add_employee("  Alice ", crop(10), unit(0), "v1")
    b = store.add_employee("Bob", crop(20), unit(1), "v1")
    assert [(e.id, e.name) for e in store.employees()] == [(a, "Alice"), (b, "Bob")]
    gallery = store.gallery("v1")
    assert gallery.ids.tolist() == [a, b] and gallery.names == ["Alice", "Bob"]
    np.testing.assert_array_equal(gallery.embeddings, np.stack([unit(0), unit(1)]))
    assert store.reference_crop(b)[0, 0].tolist() == [20, 20, 20]
    assert len(store.gallery("v2")) == 0


def test_every_change_bumps_the_generation(store):
    g0 = store.generation()
    a = store.add_employee("Alice", crop(), unit(0), "v1")
    store.rename(a, "Alicia")
    store.replace_reference(a, crop(50), unit(2), "v1")
    store.remove_employee(a)
    assert store.generation() == g0 + 4


def test_removal_deletes_face_keeps_history_unless_purged(store):
    a = store.add_employee("Alice", crop(), unit(0), "v1")
    b = store.add_employee("Bob", crop(), unit(1), "v1")
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
    a = store.add_employee("Alice", crop(), unit(0), "v1")
    first = store.record_punch(a, at=T0, distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60)
    assert first.direction == "in"
    assert store.record_punch(a, at=T0 + dt.timedelta(seconds=30), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60) is None
    second = store.record_punch(a, at=T0 + dt.timedelta(hours=8), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60)
    assert second.direction == "out"
    next_day = store.record_punch(a, at=T0 + dt.timedelta(days=1), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=60)
    assert next_day.direction == "in"
    assert [r["direction"] for r in store.attendance("2026-11-23", "2026-11-23")] == ["in", "out"]


def test_punch_times_need_a_timezone(store):
    a = store.add_employee("Alice", crop(), unit(0), "v1")
    with pytest.raises(ValueError, match="timezone"):
        store.record_punch(a, at=dt.datetime(2026, 1, 1), distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=0)


def test_attendance_is_append_only(store):
    a = store.add_employee("Alice", crop(), unit(0), "v1")
    store.record_punch(a, at=T0, distance=0.1, kiosk_id="k", model_version="v1", cooldown_seconds=0)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE attendance SET direction = 'out'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM attendance")


def test_reembed_recomputes_embeddings_of_another_model_version(store):
    a = store.add_employee("Alice", crop(10), unit(0), "old")
    assert store.reembed(lambda c: unit(3) if c[0, 0, 0] == 10 else unit(4), "new") == 1
    np.testing.assert_array_equal(store.gallery("new").embeddings[0], unit(3))
    assert store.stale_references("new") == [] and store.gallery("new").ids.tolist() == [a]


def test_empty_names_are_refused(store):
    with pytest.raises(ValueError):
        store.add_employee("   ", crop(), unit(0), "v1")
