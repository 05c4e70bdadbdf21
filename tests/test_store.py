import datetime as dt
import sqlite3

import numpy as np
import pytest

from kiosk.store import Store, UnknownEmployee
from tests.helpers import punch

UTC = dt.UTC
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
        punch(store, e, T0, cooldown_seconds=60)
    store.remove_employee(a)
    with pytest.raises(UnknownEmployee):
        store.reference_crop(a)
    assert len(store.punch_log(employee_id=a)) == 1
    store.remove_employee(b, purge_attendance=True)
    assert store.punch_log(employee_id=b) == []
    with pytest.raises(UnknownEmployee):
        store.remove_employee(12345)


def test_a_visit_appends_what_the_rules_decide_in_one_transaction(store):
    a = add(store, "Alice", crop(), unit(0), "v1")
    first = punch(store, a, T0, cooldown_seconds=60)
    assert first.direction == "in" and first.kind == "punch"
    assert punch(store, a, T0 + dt.timedelta(seconds=30), cooldown_seconds=60) is None
    second = punch(store, a, T0 + dt.timedelta(hours=8), cooldown_seconds=60)
    assert second.direction == "out"
    next_day = punch(store, a, T0 + dt.timedelta(days=1), cooldown_seconds=60)
    assert next_day.direction == "in"
    assert [r.direction for r in store.punch_log("2026-11-23", "2026-11-23")] == ["in", "out"]
    assert [e.id for e in store.history(a)] == [first.id, second.id, next_day.id]


def test_corrections_are_appended_and_name_their_target(store):
    a, b = add(store, "Alice", crop(), unit(0), "v1"), add(store, "Bob", crop(), unit(1), "v1")
    p = punch(store, a, T0)
    later = T0 + dt.timedelta(days=3)
    void = store.add_correction(a, "void", at=later, work_day=later.date(), author="admin", note="was Bob", target=p.id)
    added = store.add_correction(
        a, "added", at=T0 + dt.timedelta(hours=9), work_day=T0.date(), author="admin", note="forgot", direction="out"
    )
    with pytest.raises(ValueError, match="not a punch of employee"):
        store.add_correction(b, "void", at=later, work_day=later.date(), author="admin", note="x", target=p.id)
    with pytest.raises(ValueError, match="needs a reason"):
        store.add_correction(a, "added", at=T0, work_day=T0.date(), author="admin", note="  ", direction="in")
    # The day's entries come with every correction of them, however much later it was made.
    assert {e.id for e in store.entries(T0.date(), T0.date())} == {p.id, void.id, added.id}
    assert {e.id for e in store.history(a, since=T0)} == {p.id, void.id, added.id}


def test_punch_times_need_a_timezone(store):
    a = add(store, "Alice", crop(), unit(0), "v1")
    with pytest.raises(ValueError, match="time zone"):
        punch(store, a, dt.datetime(2026, 1, 1))


def test_a_deleted_or_replaced_database_is_noticed_before_a_punch_is_acknowledged(tmp_path):
    from kiosk.database_file import StoreError

    store = Store(tmp_path / "kiosk.db")
    a = add(store, "Alice", crop(), unit(0), "v1")
    (tmp_path / "kiosk.db").unlink()
    with pytest.raises(StoreError, match="deleted while the kiosk was running"):
        punch(store, a, T0)
    Store(tmp_path / "fresh" / "kiosk.db").close()  # someone puts a fresh file there
    (tmp_path / "fresh" / "kiosk.db").rename(tmp_path / "kiosk.db")
    with pytest.raises(StoreError, match="replaced while the kiosk was running"):
        store.check_file()


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda p: p.mkdir(), "is a folder, not the kiosk database"),
        (lambda p: p.write_bytes(b""), "empty \\(0 bytes\\).*kiosk restore"),
        (lambda p: p.write_bytes(b"this is not sqlite at all" * 100), "not a readable kiosk database.*kiosk restore"),
    ],
)
def test_broken_database_files_are_named_with_the_way_out(tmp_path, make, needle):
    from kiosk.database_file import StoreError

    make(tmp_path / "kiosk.db")
    with pytest.raises(StoreError, match=needle):
        Store(tmp_path / "kiosk.db")


def test_damage_inside_the_file_is_found_at_start_up(tmp_path):
    from kiosk.database_file import StoreError

    store = Store(tmp_path / "kiosk.db")
    for i in range(300):
        add(store, f"Person {i}", crop(), unit(i % 8), "v1")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray((tmp_path / "kiosk.db").read_bytes())
    page, pages = 4096, len(data) // 4096
    # Scribble over the second half of the pages (people's pictures): the header and the schema, which
    # can outgrow the first page, stay readable, so the damage is in the middle, for quick_check to find.
    for p in range(pages // 2, pages - 1):
        data[p * page + 8 : p * page + 40] = b"\xa5" * 32
    (tmp_path / "kiosk.db").write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged.*kiosk restore"):
        Store(tmp_path / "kiosk.db").quick_check()


def test_read_only_commands_do_not_create_a_database(tmp_path):
    from kiosk.database_file import StoreError

    with pytest.raises(StoreError, match="no kiosk database here"):
        Store(tmp_path / "kiosk.db", create=False)
    assert not (tmp_path / "kiosk.db").exists()


def test_the_database_and_its_folder_are_private(tmp_path):
    import os

    folder = tmp_path / "data"
    store = Store(folder / "kiosk.db")
    add(store, "Alice", crop(), unit(0), "v1")
    assert oct(os.stat(folder).st_mode & 0o777) == "0o700" and oct(os.stat(folder / "kiosk.db").st_mode & 0o777) == "0o600"


def test_attendance_is_append_only(store):
    a = add(store, "Alice", crop(), unit(0), "v1")
    punch(store, a, T0)
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
    from kiosk.image_codec import encode_png
    from kiosk.schema import SCHEMA_VERSION

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
    old.execute(
        "INSERT INTO attendance (employee_id, at, day, direction, kiosk_id) VALUES (1, '2026-01-02T08:00:00+00:00', '2026-01-02', 'in', 'k')"
    )
    old.commit()
    old.close()
    store = Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    ref = store.reference(1)
    assert ref.image is None and ref.face is None and ref.crop[0, 0].tolist() == [42, 42, 42]
    assert [e.name for e in store.employees()] == ["Old Timer"] and len(store.punch_log()) == 1
    assert store.generation() == 3 and store.stale_references("dlib150") == [1]
    store.close()
    Store(path).close()  # opening again changes nothing


def test_a_schema_3_database_gains_entry_uuids_and_no_outbox(tmp_path):
    path = tmp_path / "v3.db"
    store = Store(path)
    a = store.add_employee("Ann", image=None, face=None, crop=crop(1), embedding=unit(1), model_version="v")
    store.close()
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TRIGGER attendance_webhook; DROP INDEX attendance_uuid; ALTER TABLE attendance DROP COLUMN uuid; "
        "PRAGMA user_version = 3;"
    )  # schema 9's webhook trigger reads the uuid column, so it goes first (the migration makes it again)
    # Nor had schema 3 the payroll columns of schema 7 (which adds them with ALTER TABLE, once).
    db.executescript(
        "DROP INDEX employees_number; ALTER TABLE employees DROP COLUMN employee_number; "
        "ALTER TABLE employees DROP COLUMN first_name; ALTER TABLE employees DROP COLUMN last_name;"
    )
    db.execute(
        "INSERT INTO attendance (employee_id, at, day, direction, kiosk_id) VALUES (?, '2026-01-02T08:00:00+00:00', '2026-01-02', 'in', 'k')",
        (a,),
    )
    db.commit()
    db.close()
    store = Store(path)
    punch(store, a, dt.datetime(2026, 1, 3, 8, tzinfo=dt.UTC))
    uuids = [r.uuid for r in store.punch_log()]
    assert uuids[0] is None and len(uuids[1]) == 36  # the old row stays as it was; new ones are named
    # The outbox is a fleet member's (kiosk.fleet.replica): a standalone kiosk has none, and queues nothing.
    assert store.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%outbox%'").fetchone()[0] == 0
    store.close()


def test_a_new_database_has_the_same_schema_as_a_migrated_one(tmp_path):
    """Every step from schema 1 gives the tables, indexes and triggers a new database gets."""
    import sqlite3

    from kiosk.schema import statements, steps

    def shape(db):
        return sorted((r[0], r[1]) for r in db.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))

    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    for statement in statements(steps()[1].read_text()):
        old.execute(statement)
    old.execute("INSERT INTO employees (name, created) VALUES ('Old Timer', '2026-01-01')")
    old.close()
    migrated, fresh = Store(tmp_path / "old.db"), Store(tmp_path / "new.db")
    assert shape(migrated.db) == shape(fresh.db)
    columns = {
        t: [r[1] for r in fresh.db.execute(f"PRAGMA table_info({t})")] for t in ("employees", "reference_faces", "attendance")
    }
    assert columns == {t: [r[1] for r in migrated.db.execute(f"PRAGMA table_info({t})")] for t in columns}
    assert "uuid" in columns["attendance"] and "expected_start" in columns["employees"]


def test_a_database_from_a_newer_kiosk_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    from kiosk.database_file import StoreError

    with pytest.raises(StoreError, match="newer than this kiosk"):
        Store(path)


def test_empty_names_are_refused(store):
    with pytest.raises(ValueError, match="A name is required"):
        add(store, "   ", crop(), unit(0), "v1")
