"""Several kiosks on one PostgreSQL database (a real server from Debian's
``postgresql`` package, started in a temporary folder): the replica, its
outbox and pulls, the roles, outages and kills in the middle of a sync, and
two doors plus the admin server as real processes."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from dataclasses import replace

import numpy as np
import pytest

from tests.helpers import (
    PASSWORD,
    application,
    chrome,
    enroll,
    lfw_image,
    login,
    photo_bytes,
    punch,
    serve,
    shot,
    token_of,
    wait_for_text,
)
from tests.postgres_server import PostgresServer, free_port, server_binaries, wait_for
from tests.walkup import on_canvas

psycopg = pytest.importorskip("psycopg", reason="psycopg is installed by scripts/install.sh")
if server_binaries() is None:
    pytest.skip(
        "the PostgreSQL server is not installed (Debian package 'postgresql'; scripts/test.sh installs it as root)",
        allow_module_level=True,
    )

from kiosk.config import AttendanceSettings  # noqa: E402
from kiosk.database_file import StoreError  # noqa: E402
from kiosk.fleet.central import Central, CentralError, NotAllowed  # noqa: E402
from kiosk.fleet.replica import MemberStore  # noqa: E402
from kiosk.fleet.sync import Replicator  # noqa: E402
from kiosk.staff_file import StaffFileError  # noqa: E402
from kiosk.store import Store  # noqa: E402

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
_databases = itertools.count()


@pytest.fixture(scope="module")
def server():
    pg = PostgresServer()
    yield pg
    pg.close()


@pytest.fixture
def fleet(server):
    """A new fleet database with its tables, a door role per kiosk and an admin role; returns URLs by role."""
    return new_fleet(server)


def new_fleet(server, migrate=True):
    name = f"fleet{next(_databases)}"
    server.sql(f"CREATE DATABASE {name}")
    url = server.url().rsplit("/", 1)[0] + f"/{name}"
    if migrate:
        Central(url).migrate()
    for role, group in (("door_a", "kiosk_member"), ("door_b", "kiosk_member"), ("boss", "kiosk_admin")):
        server.sql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN IN ROLE {group}; END IF; END $$"
        )
    return {role: url.replace("postgres@", f"{role}@") for role in ("door_a", "door_b", "boss")} | {"owner": url}


@pytest.fixture
def members(fleet, tmp_path):
    """Replicas of the admin server and two doors, and their Central connections."""
    opened = []

    def member(role):
        central = Central(fleet[role], connect_timeout=2)
        store = MemberStore(Store(tmp_path / role / "kiosk.db"), central)
        opened.append((store, central))
        return store

    yield member
    for store, central in opened:
        store.close()
        central.close()


def enrol(store, name="Ann", seed=0):
    emb = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return store.add_employee(
        name,
        image=np.zeros((16, 16, 3), np.uint8),
        face=None,
        crop=np.zeros((8, 8, 3), np.uint8),
        embedding=emb / np.linalg.norm(emb),
        model_version="v1",
    )


def sync(store, site=""):
    Replicator(store.replica, store.central, site=site, model_version="v1").sync_once()


def test_staff_changes_reach_every_door_and_punches_reach_everyone_once(members):
    admin, door_a, door_b = members("boss"), members("door_a"), members("door_b")
    ann = enrol(admin)
    assert admin.get_employee(ann).name == "Ann"  # the admin's own replica has them at once
    for door in (door_a, door_b):
        sync(door)
        gallery = door.gallery("v1")
        assert list(gallery.ids) == [ann] and gallery.names == ["Ann"]
        assert np.allclose(gallery.embeddings[0], admin.gallery("v1").embeddings[0])
    punch(door_a, ann, T0, kiosk_id="door_a")
    sync(door_a), sync(door_b)
    punch(door_b, ann, T0 + dt.timedelta(hours=8), kiosk_id="door_b")  # out: door B knows of the IN at door A
    for _ in range(2):  # sending twice is harmless
        for member in (door_a, door_b, admin):
            sync(member, site="Leeds")
    for member in (door_a, door_b, admin):
        rows = member.punch_log()
        assert [(r.kiosk_id, r.direction) for r in rows] == [("door_a", "in"), ("door_b", "out")]
        assert member.replica.backlog() == 0
    assert admin.central.count_punches() == 2
    admin.rename(ann, "Ann Smith")
    admin.remove_employee(ann)
    for door in (door_a, door_b):
        sync(door)
        assert len(door.gallery("v1")) == 0 and door.employees() == []
        assert door.names()[ann] == "Ann Smith"  # punches keep their name on the timesheet


def test_a_door_may_read_and_punch_but_not_manage_staff(members, fleet):
    admin, door = members("boss"), members("door_a")
    ann = enrol(admin)
    sync(door)
    with pytest.raises(NotAllowed, match="admin server"):
        enrol(door, "Mallory")
    with pytest.raises(NotAllowed):
        door.remove_employee(ann)
    with psycopg.connect(fleet["door_a"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM attendance")
    with psycopg.connect(fleet["boss"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE attendance SET direction = 'out'")  # no one rewrites punches


# ---- payroll details and staff files, managed on the admin server ----------------------------------------

UTC_RULES = AttendanceSettings(timezone="UTC")


def test_payroll_details_set_on_the_admin_server_reach_a_door_and_its_bamboohr_export(members):
    admin, door = members("boss"), members("door_a")
    ann, bo = enrol(admin, "Ann Smith"), enrol(admin, "Bo Tan", seed=1)
    office = application(admin, rules=UTC_RULES)
    office.staff.set_details(ann, "E-001", "Annie", None)
    assert office.staff.person(ann).employee_number == "E-001"  # the admin's own replica has them at once
    with pytest.raises(ValueError, match="E-001 is already Ann Smith's"):
        office.staff.set_details(bo, "E-001", None, None)
    sync(door)
    at_door = application(door, rules=UTC_RULES)
    assert (at_door.staff.person(ann).first, at_door.staff.person(ann).last) == ("Annie", "Smith")
    assert at_door.staff.person(bo).employee_number is None  # the refused change changed nothing anywhere
    punch(door, ann, T0, kiosk_id="door_a")
    punch(door, ann, T0 + dt.timedelta(hours=8, minutes=30), kiosk_id="door_a")
    bamboo = at_door.staff.payroll("bamboohr", T0.date(), T0.date(), 40)
    assert bamboo.rows == [["E-001", "2026-11-23", "REG", "8.50"]]
    sync(door), sync(admin)
    assert application(admin, rules=UTC_RULES).staff.payroll("bamboohr", T0.date(), T0.date(), 40).rows == bamboo.rows
    office.staff.set_details(ann, None, None, None)  # cleared on the admin server: cleared at the door
    sync(door)
    assert at_door.staff.person(ann).employee_number is None and at_door.staff.person(ann).first == "Ann"


def test_a_staff_file_imported_on_the_admin_server_reaches_every_door_all_or_nothing(members, fleet, tmp_path):
    admin, door_a, door_b = members("boss"), members("door_a"), members("door_b")
    ann = enrol(admin, "Ann Smith")
    office = application(admin)
    result = office.staff.import_file(
        "name,employee_number,expected_start,last_name\nAnn Smith,E-001,08:30,Smythe\nBo Tan,E-002,,\nCy Dee,,,\n"
    )
    assert (len(result.added), result.updated) == (2, 1)
    everyone = [(p.id, p.name, p.employee_number, p.expected_start, p.last, p.has_photo) for p in office.staff.people()]
    for door in (door_a, door_b):
        sync(door)
        people = application(door).staff.people()
        assert [(p.id, p.name, p.employee_number, p.expected_start, p.last, p.has_photo) for p in people] == everyone
        assert list(door.gallery("v1").ids) == [ann]  # people without a photo are not recognised yet
    assert set(result.added) == {p[0] for p in everyone} - {ann}  # the fleet's ids, the same at every door
    revision = door_a.replica.gallery_revision()

    with pytest.raises(StaffFileError, match="line 3, column expected_start"):  # a bad line: nothing is sent
        office.staff.import_file("name,expected_start\nBo Tan,09:00\nCy Dee,9am\n")
    # Another admin server gives Ann a new number while this one's replica is behind: the fleet database
    # refuses the file that gives that number to someone else, and writes none of its rows.
    other = MemberStore(Store(tmp_path / "office2" / "kiosk.db"), Central(fleet["boss"], connect_timeout=2))
    try:
        application(other).staff.set_details(ann, "E-009", None, None)
    finally:
        other.close(), other.central.close()
    admin.pull_gallery = lambda model_version=None: 0  # this replica stays behind
    with pytest.raises(ValueError, match="E-009 is already Ann Smith's"):
        office.staff.import_file("name,employee_number,expected_start\nBo Tan,E-002,09:00\nDee Fox,E-009,\n")
    sync(door_a)
    assert door_a.replica.gallery_revision() == revision + 1  # Ann's new number, nothing of the file
    people = {p.name: p for p in application(door_a).staff.people()}
    assert people["Bo Tan"].expected_start is None and "Dee Fox" not in people
    assert people["Ann Smith"].employee_number == "E-009"


def test_a_door_refuses_payroll_details_and_staff_files(members, fleet, tmp_path):
    from kiosk.config import Config, KioskSettings
    from kiosk.web import create_app

    admin = members("boss")
    ann = enrol(admin, "Ann Smith")
    central = Central(fleet["door_a"], connect_timeout=2)
    services = door_services(tmp_path, central, None, backlog=0, staff_managed_here=False)
    door = services.app.store
    sync(door)
    client = create_app(Config(kiosk=KioskSettings(data_dir=tmp_path)), services, {"TESTING": True}).test_client()
    try:
        assert login(client).status_code == 302
        page = client.get(f"/admin/employees/{ann}").get_data(as_text=True)
        assert "payroll details and removals are managed on the fleet" in page and f"/employees/{ann}/payroll" not in page
        token = token_of(page)
        saved = client.post(f"/admin/employees/{ann}/payroll", data={"csrf_token": token, "employee_number": "E-1"})
        staff_file = client.post(
            "/admin/staff/import",
            data={"csrf_token": token, "file": (io.BytesIO(b"name\nMallory\n"), "team.csv")},
            content_type="multipart/form-data",
        )
        for refused in (saved, staff_file):
            assert refused.status_code == 403 and "fleet&#39;s admin server" in refused.get_data(as_text=True)
        with pytest.raises(NotAllowed):  # and the fleet database refuses a door's role whatever asks
            services.app.staff.import_file("name\nMallory\n")
        sync(door)
        assert [(p.name, p.employee_number) for p in services.app.staff.people()] == [("Ann Smith", None)]
    finally:
        door.close()
        central.close()


def test_a_member_that_pulled_before_payroll_details_reads_them_once(members):
    """An earlier version pulled gallery changes without their details (and moved past them): upgraded, it reads everyone's."""
    admin, door = members("boss"), members("door_a")
    ann, bo = enrol(admin, "Ann Smith"), enrol(admin, "Bo Tan", seed=1)
    application(admin).staff.set_details(ann, "E-001", None, "Smythe")
    application(admin).staff.set_details(bo, "E-002", None, None)
    changes = door.central.gallery_changes(0, "v1")
    door.replica.apply_gallery([replace(c, employee_number=None, first_name=None, last_name=None) for c in changes])
    with door.db:
        door.db.execute("DELETE FROM meta WHERE key = 'fleet_payroll_details'")  # as the earlier version left it
    assert door.replica.gallery_revision() == changes[-1].revision
    sync(door)
    people = application(door).staff.people()
    assert [(p.name, p.employee_number, p.last) for p in people] == [("Ann Smith", "E-001", "Smythe"), ("Bo Tan", "E-002", "Tan")]


def test_a_number_given_up_and_given_again_reaches_a_door_that_was_behind(members):
    """Changes come down as each person is now: the one who took a number may arrive before the one who gave it up."""
    admin, door = members("boss"), members("door_a")
    ann, bo = enrol(admin, "Ann Smith"), enrol(admin, "Bo Tan", seed=1)
    office = application(admin).staff
    office.set_details(ann, "E-001", None, None)
    sync(door)
    office.set_details(ann, None, None, None)
    office.set_details(bo, "E-001", None, None)
    office.set_details(ann, "E-002", None, None)  # Ann's change is now after Bo's
    sync(door)
    assert [(p.name, p.employee_number) for p in application(door).staff.people()] == [
        ("Ann Smith", "E-002"),
        ("Bo Tan", "E-001"),
    ]


def test_a_fleet_database_at_schema_2_is_migrated_and_members_then_pull_payroll_details(server, tmp_path, monkeypatch):
    from kiosk.fleet import central as central_module

    urls = new_fleet(server, migrate=False)
    with monkeypatch.context() as patch:  # the database as the previous release left it
        patch.setattr(central_module, "MIGRATIONS", {v: p for v, p in central_module.MIGRATIONS.items() if v <= 2})
        assert Central(urls["owner"]).migrate() == [1, 2]
    opened = []
    try:
        for role in ("boss", "door_a"):
            central = Central(urls[role], connect_timeout=2)
            opened.append(MemberStore(Store(tmp_path / role / "kiosk.db"), central))
        admin, door = opened
        with pytest.raises(CentralError, match="kiosk fleet migrate"):  # this release needs schema 3
            enrol(admin, "Ann Smith")
        assert Central(urls["owner"]).migrate() == [3]
        sync(admin), sync(door)
        ann = admin.employees()[0].id
        assert application(door).staff.person(ann).employee_number is None
        application(admin).staff.set_details(ann, "E-001", None, None)
        sync(door)
        assert application(door).staff.person(ann).employee_number == "E-001"
    finally:
        for store in opened:
            store.close(), store.central.close()


def test_the_cooldown_holds_across_synced_doors(members):
    admin, door_a, door_b = members("boss"), members("door_a"), members("door_b")
    ann = enrol(admin)
    sync(door_a), sync(door_b)
    assert punch(door_a, ann, T0, cooldown_seconds=60, kiosk_id="door_a").direction == "in"
    sync(door_a), sync(door_b)
    assert punch(door_b, ann, T0 + dt.timedelta(seconds=30), cooldown_seconds=60, kiosk_id="door_b") is None
    assert punch(door_b, ann, T0 + dt.timedelta(hours=4), cooldown_seconds=60, kiosk_id="door_b").direction == "out"


def test_unsynced_doors_punching_one_visit_merge_alike_on_every_member(members):
    from kiosk import attendance

    admin, door_a, door_b = members("boss"), members("door_a"), members("door_b")
    ann = enrol(admin)
    sync(door_a), sync(door_b)
    punch(door_b, ann, T0 + dt.timedelta(seconds=20), cooldown_seconds=60, kiosk_id="door_b")  # no sync in between
    punch(door_a, ann, T0 + dt.timedelta(seconds=20), cooldown_seconds=60, kiosk_id="door_a")
    for member in (door_a, door_b, admin, door_a, door_b):
        sync(member)
    sheets = []
    for member in (door_a, door_b, admin):
        [record] = attendance.timesheet(member.entries(T0.date(), T0.date()), T0.date(), T0.date(), dt.UTC, cooldown_seconds=60)
        sheets.append([(c.entry.kiosk_id, c.direction) for c in record.punches])
        assert len(member.punch_log()) == 2  # both stay in the log
    assert sheets == [[("door_a", "in")]] * 3  # same time: the door named first stands


def test_a_standalone_kiosks_data_cannot_join_a_fleet(tmp_path, fleet):
    enrol(Store(tmp_path / "kiosk.db"))
    central = Central(fleet["door_a"])
    try:
        with pytest.raises(StoreError, match="standalone kiosk's staff.*empty folder"):
            MemberStore(Store(tmp_path / "kiosk.db"), central)
    finally:
        central.close()


def test_a_crash_between_sending_and_emptying_the_outbox_sends_again_harmlessly(members):
    admin, door = members("boss"), members("door_a")
    ann = enrol(admin)
    sync(door)
    for n in range(3):
        punch(door, ann, T0 + dt.timedelta(hours=n), kiosk_id="door_a")
    door.central.push(door.replica.outbox_batch(""))  # the database has them; the kiosk dies before it empties the outbox
    assert door.replica.backlog() == 3
    sync(door)
    assert door.replica.backlog() == 0 and door.central.count_punches() == 3
    assert len(door.punch_log()) == 3  # and pulling them back did not double them here either


def test_punches_are_kept_while_the_database_is_away(tmp_path, fleet):
    central = Central(fleet["door_a"].replace(":", ":", 1).rsplit(":", 1)[0] + ":1/x", connect_timeout=1)  # nothing listens there
    store = MemberStore(Store(tmp_path / "kiosk.db"), central)
    replicator = Replicator(store.replica, central, site="", model_version="v1")
    with pytest.raises(Exception) as failure:
        replicator.sync_once()
    assert type(failure.value).__name__ == "Unreachable" and "password" not in str(failure.value)
    store.db.execute("INSERT INTO employees (id, name, created) VALUES (1, 'Ann', '2026-01-01')")
    assert punch(store, 1, T0, kiosk_id="door_a").direction == "in"
    assert store.replica.backlog() == 1
    central.close()


# -- a forging member and a poisoned row (issue 24, findings 1, 2 and 5) -----------------------------------------
def as_role(url, statement, args=()):
    with psycopg.connect(url) as conn:
        conn.execute(statement, args)


@pytest.fixture
def door_c(server, fleet):
    """A third door's role, that has recorded nothing yet."""
    server.sql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'door_c') THEN "
        "CREATE ROLE door_c LOGIN IN ROLE kiosk_member; END IF; END $$"
    )


ROW = (
    "INSERT INTO attendance (uuid, employee_id, at, day, direction, kiosk_id, kind, author, target_uuid) "
    "VALUES (gen_random_uuid(), %s, now(), current_date, %s, %s, %s, %s, %s)"
)


def test_a_member_cannot_choose_seq_or_received_and_the_database_numbers_rows_in_order(members, fleet):
    admin, door = members("boss"), members("door_a")
    ann = enrol(admin)
    sync(door)
    for column, value in (("seq", 1_000_000_000), ("received", "2001-01-01")):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_role(
                fleet["door_a"],
                f"INSERT INTO attendance (uuid, employee_id, at, day, direction, kiosk_id, kind, {column}) "
                "VALUES (gen_random_uuid(), %s, now(), current_date, 'in', 'door_a', 'punch', %s)",
                (ann, value),
            )
    for n in range(3):
        punch(door, ann, T0 + dt.timedelta(hours=n), kiosk_id="door_a")
    sync(door)
    with psycopg.connect(fleet["owner"]) as conn:
        rows = conn.execute("SELECT seq, received FROM attendance ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3]  # dense: a hole would mean a row a member cannot see
    assert all(abs((r[1] - dt.datetime.now(dt.UTC)).total_seconds()) < 60 for r in rows)


def test_a_door_cannot_forge_corrections_other_doors_or_authors(members, fleet, door_c):
    admin, door_a, door_b = members("boss"), members("door_a"), members("door_b")
    ann = enrol(admin)
    sync(door_a), sync(door_b)
    punch(door_a, ann, T0, kiosk_id="door_a")
    theirs = punch(door_b, ann, T0 + dt.timedelta(hours=8), kiosk_id="door_b")
    sync(door_a), sync(door_b), sync(door_a)
    target = door_b.db.execute("SELECT uuid FROM attendance WHERE id = ?", (theirs.id,)).fetchone()[0]
    forgeries = [
        ((ann, None, "door_a", "void", "admin (10.0.0.1)", target), "corrections are made on the fleet's admin server"),
        ((ann, "in", "door_a", "added", "admin (10.0.0.1)", None), "corrections are made on the fleet's admin server"),
        ((ann, "out", "door_b", "punch", None, None), "records as door_a"),
        ((ann, "out", "door_a", "punch", "admin (10.0.0.1)", None), "a punch has no author"),
    ]
    for args, needle in forgeries:
        with pytest.raises(psycopg.errors.CheckViolation, match=needle):
            as_role(fleet["door_a"], ROW, args)
    # A role that never recorded anything cannot take a door's name either.
    with pytest.raises(psycopg.errors.CheckViolation, match="door_b is door_b's"):
        as_role(fleet["door_b"].replace("door_b@", "door_c@"), ROW, (ann, "in", "door_b", "punch", None, None))
    # The admin server corrects, as itself.
    as_role(fleet["boss"], ROW, (ann, None, "office", "void", "admin (10.0.0.1)", target))
    assert admin.central.count_punches() == 3


def test_a_poisoned_row_is_set_aside_with_its_reason_and_blocks_nothing(members, fleet):
    admin, door = members("boss"), members("door_a")
    ann = enrol(admin)
    sync(door)
    punch(door, ann, T0, kiosk_id="door_a")
    # Rows recorded before reasons were checked, or by a door that corrected on its own page: the server refuses them.
    door.db.execute(
        "INSERT INTO attendance (employee_id, at, day, direction, kiosk_id, kind, author, note, uuid) "
        "VALUES (?, ?, ?, 'in', 'door_a', 'added', 'admin', ?, ?)",
        (ann, (T0 + dt.timedelta(hours=1)).isoformat(), T0.date().isoformat(), "wrong person\x00", str(uuid.uuid4())),
    )
    door.db.execute(
        "INSERT INTO attendance (employee_id, at, day, direction, kiosk_id, kind, model_version, uuid) "
        "VALUES (?, ?, ?, 'out', 'door_a', 'punch', ?, ?)",
        (ann, (T0 + dt.timedelta(hours=2)).isoformat(), T0.date().isoformat(), "v1\x00", str(uuid.uuid4())),
    )
    for n in range(3, 6):
        punch(door, ann, T0 + dt.timedelta(hours=n), kiosk_id="door_a")
    replicator = Replicator(door.replica, door.central, site="", model_version="v1")
    replicator.sync_once()
    state = replicator.state.snapshot()
    assert state["backlog"] == 0 and state["state"] == "connected"
    assert admin.central.count_punches() == 4  # the first punch and the three behind the bad rows
    assert state["set_aside"] == 2 and "NUL" in state["set_aside_reason"]
    assert len(door.punch_log()) == 6  # kept here, not deleted
    punch(door, ann, T0 + dt.timedelta(hours=7), kiosk_id="door_a")
    replicator.sync_once()
    assert admin.central.count_punches() == 5 and replicator.state.snapshot()["set_aside"] == 2


def forge_seq(fleet, employee_id, seq, kiosk_id="door_b"):
    """A row numbered as a member could before schema 2 (the owner, with the numbering trigger off)."""
    with psycopg.connect(fleet["owner"]) as conn:
        conn.execute("ALTER TABLE attendance DISABLE TRIGGER attendance_from_member")
        conn.execute(
            "INSERT INTO attendance (seq, uuid, employee_id, at, day, direction, kiosk_id, kind) "
            "VALUES (%s, gen_random_uuid(), %s, now(), current_date, 'in', %s, 'punch')",
            (seq, employee_id, kiosk_id),
        )
        conn.execute("ALTER TABLE attendance ENABLE TRIGGER attendance_from_member")


def test_a_jump_in_seq_is_reported_and_no_punch_is_missed(members, fleet):
    admin, door_a, door_b = members("boss"), members("door_a"), members("door_b")
    ann = enrol(admin)
    sync(door_a), sync(door_b)
    punch(door_a, ann, T0, kiosk_id="door_a")
    sync(door_a)
    forge_seq(fleet, ann, 1_000_000_000)
    watcher = Replicator(door_b.replica, door_b.central, site="", model_version="v1")
    watcher.sync_once()
    state = watcher.state.snapshot()
    assert "1 to 1000000000" in state["punch_gap"] and state["state"] == "connected"
    for n in range(1, 4):  # the doors go on; numbering goes on after the forged number
        punch(door_a, ann, T0 + dt.timedelta(hours=n), kiosk_id="door_a")
        sync(door_a)
    watcher.sync_once()
    assert len(door_b.punch_log()) == 5 == admin.central.count_punches()


def test_a_member_moved_past_punches_by_a_forged_seq_reads_them_again(members, fleet):
    admin, door_a, door_b = members("boss"), members("door_a"), members("door_b")
    ann = enrol(admin)
    sync(door_a), sync(door_b)
    for n in range(3):
        punch(door_a, ann, T0 + dt.timedelta(hours=n), kiosk_id="door_a")
    sync(door_a)
    # What an earlier kiosk did after the forged row: its position past everything, its check never made.
    with door_b.db:
        door_b.db.execute("INSERT OR REPLACE INTO meta VALUES ('fleet_punch_seq', '1000000000')")
        door_b.db.execute("DELETE FROM meta WHERE key = 'fleet_punch_checked'")
    sync(door_b)
    assert len(door_b.punch_log()) == 3


# A door without a camera: punches in a loop (printing each entry's id once it is committed) while its sync thread runs.
DOOR = textwrap.dedent("""
    import sys, threading, time, datetime as dt
    from kiosk.fleet.central import Central
    from kiosk.fleet.replica import MemberStore
    from kiosk.fleet.sync import Replicator
    from kiosk.store import Store
    from tests.helpers import punch
    url, db, offline, pause, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    central = Central(url, connect_timeout=1)
    store = MemberStore(Store(db), central)
    replicator = Replicator(store.replica, central, site="test", model_version="v1", interval=1, batch=10)
    store.appended = replicator.wake.set
    while not store.employees():
        try:
            store.pull_gallery("v1")
        except Exception:
            time.sleep(0.2)
    people = [e.id for e in store.employees()]
    t0 = dt.datetime(2026, 11, 23, 8, tzinfo=dt.timezone.utc)
    n = start
    def one():
        global n
        n += 1
        entry = punch(store, people[n % len(people)], t0 + dt.timedelta(seconds=n), kiosk_id="door_a")
        print(entry.id, flush=True)
    for _ in range(offline):
        one()
    print("syncing", flush=True)
    threading.Thread(target=replicator.run, daemon=True).start()
    while True:
        one()
        time.sleep(pause)
""")


def start_door(url, db, *, offline=0, pause=0.02, start=0):
    return subprocess.Popen(
        [sys.executable, "-c", DOOR, url, str(db), str(offline), str(pause), str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )


def central_uuids(url):
    with psycopg.connect(url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT uuid FROM attendance WHERE kiosk_id = 'door_a'")]


def local_uuids(db, ids=None):
    store = Store(db)
    try:
        rows = store.db.execute("SELECT id, uuid FROM attendance").fetchall()
    finally:
        store.close()
    return {r[0]: r[1] for r in rows if ids is None or r[0] in ids}


def read_acknowledged(proc, into: list, stop_at=None):
    for line in proc.stdout:
        if line.strip() == "syncing":
            if stop_at == "syncing":
                return
            continue
        into.append(int(line))


@pytest.mark.slow
def test_outage_of_a_minute_keeps_every_acknowledged_punch_exactly_once(server, fleet, members, tmp_path):
    outage = float(os.environ.get("KIOSK_TEST_OUTAGE_SECONDS", 60))
    admin = members("boss")
    for i in range(3):
        enrol(admin, f"P{i}", seed=i)
    db = tmp_path / "door" / "kiosk.db"
    proc = start_door(fleet["door_a"], db)
    acknowledged: list[int] = []
    reader = threading.Thread(target=read_acknowledged, args=(proc, acknowledged), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: len(central_uuids(fleet["owner"])) > 20, 30), "the door did not start sending"
        server.stop()
        during = len(acknowledged)
        time.sleep(outage)
        assert len(acknowledged) > during + outage * 10, "the door stopped punching while the database was away"
        assert proc.poll() is None
        server.start()
        time.sleep(1)
        proc.send_signal(signal.SIGSTOP)  # a fixed set of acknowledged punches to look for
        time.sleep(0.3)
        proc.send_signal(signal.SIGCONT)
        snapshot = set(acknowledged)
        assert wait_for(lambda: set(local_uuids(db, snapshot).values()) <= set(central_uuids(fleet["owner"])), 60), (
            "acknowledged punches missing after the database came back"
        )
    finally:
        proc.kill()
        proc.wait(timeout=20)
    uuids = central_uuids(fleet["owner"])
    assert len(uuids) == len(set(uuids))
    wanted = local_uuids(db, snapshot)
    assert len(wanted) == len(snapshot) > outage * 10 and set(wanted.values()) <= set(uuids)
    log = proc.stderr.read()
    assert "cannot be reached" in log and "Traceback" not in log


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_sync_fifty_times_loses_and_doubles_nothing(fleet, members, tmp_path):
    admin = members("boss")
    for i in range(3):
        enrol(admin, f"P{i}", seed=i)
    db = tmp_path / "door" / "kiosk.db"
    rng = random.Random(0)
    acknowledged: list[int] = []
    killed_with_backlog = 0
    for run in range(50):
        proc = start_door(fleet["door_a"], db, offline=60, pause=0.005, start=run * 100_000)
        read_acknowledged(proc, acknowledged, stop_at="syncing")
        time.sleep(rng.uniform(0.0, 0.3))  # the sync thread is sending its backlog ten at a time
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        acknowledged += [int(x) for x in rest.split() if x.isdigit()]
        proc.wait(timeout=20)
        assert proc.returncode == -signal.SIGKILL
        check = Store(db)
        killed_with_backlog += check.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] > 0
        check.close()
    assert killed_with_backlog >= 5, f"only {killed_with_backlog} of 50 kills came while punches were waiting to be sent"
    central = Central(fleet["door_a"])
    store = MemberStore(Store(db), central)
    try:
        sync(store)
        assert store.replica.backlog() == 0
    finally:
        store.close()
        central.close()
    local = local_uuids(db)
    uuids = central_uuids(fleet["owner"])
    assert len(uuids) == len(set(uuids)), "a punch reached the fleet database twice"
    assert set(uuids) == set(local.values()), "the fleet database and the door disagree"
    assert set(acknowledged) <= set(local), "an acknowledged punch is gone"


class Browser:
    """Just enough of a browser for the admin page: cookies, CSRF tokens, forms and file uploads."""

    def __init__(self, port):
        import http.cookiejar
        import urllib.request

        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path):
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def token(self, path):
        return token_of(self.get(path))

    def post(self, path, fields, files=None, token_from=None):
        import urllib.request
        import uuid

        fields = {"csrf_token": self.token(token_from or path), **fields}
        boundary = uuid.uuid4().hex
        body = b""
        for key, value in fields.items():
            body += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, (filename, data) in (files or {}).items():
            body += (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
                    f"Content-Type: image/jpeg\r\n\r\n"
                ).encode()
                + data
                + b"\r\n"
            )
        body += f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        with self.opener.open(request, timeout=60) as response:
            return response.read().decode()


def status_of(port):
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def start_member(tmp_path, name, url, *, replay=None):
    port = free_port()
    data = tmp_path / name
    camera = f"source = 'replay'\nreplay_path = '{replay}'\nloop = true\nfps = 15.0\n" if replay else "source = 'none'\n"
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f"[kiosk]\nid = '{name}'\n[camera]\n{camera}[model]\nthreads = 1\n[web]\nport = {port}\n"
        "[liveness]\nmode = 'off'\n"  # the walk-up is a flat photo
        f"[fleet]\ndatabase_url = '{url}'\nsite = 'Leeds'\nsync_seconds = 30.0\n"
    )
    env = dict(os.environ, KIOSK_DATA_DIR=str(data), NOTIFY_SOCKET="")
    command = [sys.executable, "-m", "kiosk", "-c", str(config)] + (["run"] if replay else ["admin", "serve"])
    if not replay:
        subprocess.run(
            [sys.executable, "-m", "kiosk", "admin", "set-password", "--password-stdin"],
            input="fleet admin 1\n",
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, port


@pytest.mark.lfw
@pytest.mark.slow
def test_two_doors_and_the_admin_server_as_processes(lfw, fleet, tmp_path):
    """Enrolled on the admin page: recognised at both doors within 2 s, each
    punch once in the fleet database, at every door and on the admin's punch
    log; removed on the admin page: gone from both doors' galleries."""
    import cv2

    frontal = cv2.imread(str(lfw_image("Colin_Powell", 2)))  # another photo than the enrolment one
    replay = tmp_path / "walk-up"
    replay.mkdir()
    frames = [on_canvas(frontal, 180 + (i % 4) * 6, (320 + 2 * i, 250)) for i in range(12)]
    frames[5] = cv2.GaussianBlur(frames[5], (0, 0), 4)  # a blurred frame among them
    for i, frame in enumerate(frames):
        cv2.imwrite(str(replay / f"{i:03d}.jpg"), frame)
    procs = []
    try:
        admin, admin_port = start_member(tmp_path, "office", fleet["boss"])
        procs.append(admin)
        doors = {}
        for name in ("door_a", "door_b"):
            proc, port = start_member(tmp_path, name, fleet[name], replay=replay)
            procs.append(proc)
            doors[name] = port
        for port in (admin_port, *doors.values()):
            assert wait_for(lambda port=port: status_of(port) is not None, 120), (
                f"a member did not start: {[p.poll() for p in procs]}"
            )
        assert wait_for(lambda: all(status_of(p)["fleet"]["state"] == "connected" for p in (admin_port, *doors.values())), 30)
        browser = Browser(admin_port)
        browser.post("/admin/login", {"password": "fleet admin 1"})
        page = browser.post(
            "/admin/enroll",
            {"name": "Colin Powell"},
            files={"photo": ("colin.jpg", lfw_image("Colin_Powell", 1).read_bytes())},
            token_from="/admin/",
        )
        enrolled = time.monotonic()
        assert "Colin Powell enrolled" in page
        recognised: dict[str, float] = {}
        while len(recognised) < 2 and time.monotonic() - enrolled < 20:
            for name, port in doors.items():
                if name not in recognised and "Colin Powell" in status_of(port)["message"]:  # welcome, or already recorded
                    recognised[name] = time.monotonic() - enrolled
            time.sleep(0.02)
        assert set(recognised) == {"door_a", "door_b"}, f"recognised only at {recognised}"
        assert max(recognised.values()) < 2.0, f"seconds from enrolment to recognition: {recognised}"

        def punches():
            with psycopg.connect(fleet["owner"]) as conn:
                return conn.execute("SELECT kiosk_id, at, direction, site, uuid FROM attendance ORDER BY at").fetchall()

        assert wait_for(lambda: punches(), 10)
        time.sleep(3)  # they stay in front of both doors: the visits go on, nothing more is punched
        rows = punches()
        # The door that saw them first punched IN; the other, once synced, says "already recorded". Only when
        # both punched before they synced are there two, and the timesheet counts the earlier (the merge rule).
        assert 1 <= len(rows) <= 2 and len({r[4] for r in rows}) == len(rows)
        assert all(r[2] == "in" and r[3] == "Leeds" for r in rows)
        if len(rows) == 2:
            assert {r[0] for r in rows} == {"door_a", "door_b"} and (rows[1][1] - rows[0][1]).total_seconds() < 60

        def on_the_admin_punch_log():
            page = browser.get("/admin/attendance")
            return all(r[0] in page for r in rows) and "Colin Powell" in page

        assert wait_for(on_the_admin_punch_log, 10)
        day = browser.get("/admin/timesheet?view=day")
        assert f"IN {rows[0][1].astimezone().strftime('%H:%M')} <small>{rows[0][0]}</small>" in day  # the door that counted
        for name in doors:  # every door has every punch
            assert wait_for(lambda name=name: len(local_uuids(tmp_path / name / "kiosk.db")) == len(rows), 10)
        assert [status_of(p)["gallery_size"] for p in doors.values()] == [1, 1]
        browser.post("/admin/employees/1/remove", {"confirm": "yes"}, token_from="/admin/employees/1")
        removed = time.monotonic()
        assert wait_for(lambda: all(status_of(p)["gallery_size"] == 0 for p in doors.values()), 10)
        assert time.monotonic() - removed < 2.0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    for proc in procs:
        err = proc.stderr.read()
        assert "Traceback" not in err, err[-2000:]
        assert "password" not in err.lower() or "admin password" in err.lower()


def kiosk_cli(tmp_path, *args, config=""):
    path = tmp_path / "cli.toml"
    path.write_text(config)
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "-c", str(path), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_fleet_migrate_creates_the_schema_once_and_check_config_says_what_run_will_meet(server, tmp_path):
    server.sql("CREATE DATABASE clitest")
    url = server.url(password="hunter2").rsplit("/", 1)[0] + "/clitest"
    fleet = f"[fleet]\ndatabase_url = '{url}'\n"
    early = kiosk_cli(tmp_path, "check-config", config=fleet)
    assert early.returncode == 2 and "run 'kiosk fleet migrate" in early.stderr
    first = kiosk_cli(tmp_path, "fleet", "migrate", config=fleet)
    again = kiosk_cli(tmp_path, "fleet", "migrate", "--database-url", url)
    assert first.returncode == again.returncode == 0, first.stderr
    assert "schema 3 (applied 1, 2, 3)" in first.stdout and "schema 3 (already)" in again.stdout
    ok = kiosk_cli(tmp_path, "check-config", config=fleet)
    assert ok.returncode == 0 and "fleet database host=127.0.0.1" in ok.stdout and "reachable" in ok.stdout
    away = kiosk_cli(tmp_path, "check-config", config="[fleet]\ndatabase_url = 'postgresql://x:hunter2@127.0.0.1:1/k'\n")
    assert away.returncode == 0 and "not reachable now" in away.stdout  # run starts offline on its last gallery
    for result in (early, first, again, ok, away):
        assert "hunter2" not in result.stdout + result.stderr


def test_check_config_says_when_kiosk_id_is_not_the_one_the_database_ties_the_role_to(members, fleet, tmp_path):
    admin, door = members("boss"), members("door_a")
    ann = enrol(admin)
    sync(door)
    punch(door, ann, T0, kiosk_id="door_a")
    sync(door)  # the role's first row binds it to door_a
    renamed = kiosk_cli(tmp_path, "check-config", config=f"[kiosk]\nid = 'door-a'\n[fleet]\ndatabase_url = '{fleet['door_a']}'\n")
    assert renamed.returncode == 2 and "kiosk.id: the fleet database records this role's rows as 'door_a'" in renamed.stderr
    same = kiosk_cli(tmp_path, "check-config", config=f"[kiosk]\nid = 'door_a'\n[fleet]\ndatabase_url = '{fleet['door_a']}'\n")
    assert same.returncode == 0, same.stderr


def test_admin_serve_needs_a_fleet(tmp_path):
    result = kiosk_cli(tmp_path, "admin", "serve")
    assert result.returncode == 2 and "set [fleet] database_url" in result.stderr


@pytest.fixture(scope="module")
def encoder(detector):
    from kiosk.composition import build_encoder
    from kiosk.config import BUNDLED_MODEL

    return build_encoder(BUNDLED_MODEL)


def door_services(tmp_path, central, encoder, backlog, **kw):
    """A door's web services with a made-up offline sync state, its replica on ``central``, and an admin password."""
    from kiosk.status import CameraState, Status
    from kiosk.web import Services, passwords

    passwords.set_password(tmp_path, PASSWORD)
    state = {
        "state": "offline",
        "backlog": backlog,
        "last_sync": None,
        "offline_since": "2026-11-23T08:00:00+00:00",
        "problem": "the fleet database cannot be reached",
        "gallery_revision": 3,
    }
    door = application(MemberStore(Store(tmp_path / "kiosk.db"), central), encoder)
    model_version = encoder.embedder.contract.version if encoder is not None else "v1"
    return Services(Status(model_version=model_version, camera=CameraState("ok")), door, sync=lambda: state, **kw)


@pytest.mark.lfw
def test_a_doors_admin_page_sends_staff_changes_to_the_admin_server_and_shows_the_sync(lfw, fleet, tmp_path, encoder):
    from kiosk.config import Config, KioskSettings
    from kiosk.web import create_app

    central = Central(fleet["door_a"])
    services = door_services(tmp_path, central, encoder, backlog=7)
    client = create_app(Config(kiosk=KioskSettings(data_dir=tmp_path)), services, {"TESTING": True}).test_client()
    try:
        assert login(client).status_code == 302
        refused = enroll(client, "Colin Powell", photo_bytes("Colin_Powell"))
        assert refused.status_code == 403 and "fleet&#39;s admin server" in refused.get_data(as_text=True)
        assert MemberStore(Store(tmp_path / "kiosk.db"), central).employees() == []
        page = client.get("/admin/status").get_data(as_text=True)
        assert "Punches waiting to be sent</dt><dd>7" in page and "not reachable since" in page
        assert client.get("/status").get_json()["fleet"]["backlog"] == 7
    finally:
        central.close()


def test_a_door_in_a_real_browser_offline_with_staff_managed_elsewhere(fleet, tmp_path, encoder):
    from selenium.webdriver.common.by import By

    from kiosk.config import Config, KioskSettings
    from kiosk.web import create_app

    central = Central(fleet["door_a"])
    services = door_services(tmp_path, central, encoder, backlog=12, staff_managed_here=False)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path))
    srv = serve(create_app(config, services))
    drv = chrome(tmp_path, 1280, 800)
    base = f"http://127.0.0.1:{srv.server_port}"
    try:
        drv.get(base + "/admin/login")
        drv.find_element(By.NAME, "password").send_keys(PASSWORD)
        drv.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for_text(drv, "Staff (0)")
        assert "one door of a fleet" in drv.page_source and not drv.find_elements(By.CSS_SELECTOR, "form[action='/admin/enroll']")
        shot(drv, "fleet-door-staff")
        drv.get(base + "/admin/status")
        text = drv.find_element(By.TAG_NAME, "main").text
        assert "not reachable since" in text and "Punches waiting to be sent\n12" in text
        shot(drv, "fleet-door-status-offline")
    finally:
        drv.quit()
        srv.shutdown()
        central.close()


def test_a_refused_login_is_a_config_error_not_an_outage(server, fleet, tmp_path):
    server.sql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'locked') THEN "
        "CREATE ROLE locked LOGIN PASSWORD 'right one' IN ROLE kiosk_member; END IF; END $$"
    )
    hba = server.data / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("host all locked 127.0.0.1/32 scram-sha-256\n" + original)
    server.sql("SELECT pg_reload_conf()")
    try:
        url = fleet["door_a"].replace("door_a@", "locked:wrong%20one@")
        result = kiosk_cli(tmp_path, "check-config", config=f"[fleet]\ndatabase_url = '{url}'\n")
        assert result.returncode == 2 and "password authentication failed" in result.stderr and "pgpass" in result.stderr
        assert "wrong one" not in result.stderr and "wrong%20one" not in result.stderr
        missing = kiosk_cli(tmp_path, "check-config", config=f"[fleet]\ndatabase_url = '{server.url()}_nowhere'\n")
        assert missing.returncode == 2 and 'database "kiosk_nowhere" does not exist' in missing.stderr
    finally:
        hba.write_text(original)
        server.sql("SELECT pg_reload_conf()")
