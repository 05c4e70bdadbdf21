"""The second audit (issue 24), one test or more per finding, numbered as in
the issue: an attacker on the network, a fault, a careless manager. The
fleet's findings (1, 2, 5) are in tests/test_fleet.py."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import numpy as np
import pytest

from kiosk.config import AttendanceSettings, Config, KioskSettings
from kiosk.names import InvalidName, clean_name
from kiosk.status import Status
from kiosk.store import Store
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, form_token, login, punch, services


def kiosk(tmp_path, *args, stdin=None, env=None):
    """The ``kiosk`` command as a user runs it, on a data folder of the test's."""
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=env, input=stdin, timeout=120
    )


# -- 13, 14. names: invisible characters, and bytes that are not text ----------------------------------
@pytest.mark.parametrize(
    "name",
    ["Al\u200bice", "Alice\u2060", "\ufeffAlice", "Ali\u00adce", "Alice\U000e0041", "Al\u200dice", "Alice\u200c"],
)
def test_14_invisible_format_characters_are_refused_in_names(name):
    with pytest.raises(InvalidName, match="invisible"):
        clean_name(name)


def test_14_joiners_that_spell_a_name_stay_allowed():
    # Persian and Indic names need the zero-width (non-)joiner between their letters.
    for name in ("\u0645\u06cc\u200c\u0631\u0648\u062f", "\u0915\u094d\u200d\u0937"):
        assert clean_name(name) == name


def test_13_a_name_that_is_not_text_is_refused_naming_the_option(tmp_path):
    with pytest.raises(InvalidName, match="not valid text"):
        clean_name("Bob\udcff")  # what Python makes of the byte 0xff in a UTF-8 command line
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read")
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"kiosk", b"enroll", b"--name", b"Bob\xff", bytes(photo)],
        capture_output=True,
        env=dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"), LC_ALL="C.UTF-8"),
        timeout=120,
    )
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 1 and "--name" in err and "not valid text" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "kiosk.db").exists()


# -- the admin pages through Flask's test client ------------------------------------------------------
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def admin(tmp_path):
    """A logged-in admin's client, the store behind it, one person and one punch of theirs."""
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), attendance=AttendanceSettings(timezone="UTC"))
    client = create_app(config, services(tmp_path / "kiosk.db", Status()), {"TESTING": True}).test_client()
    assert login(client).status_code == 302
    store = Store(tmp_path / "kiosk.db")
    ann = store.add_employee(
        "Ann", image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
    )
    return client, store, ann, punch(store, ann, T0)


DAY = "/admin/timesheet?view=day&date=2026-03-02"


def correction(client, path, **fields):
    return client.post(path, data={"csrf_token": form_token(client, DAY), "back": DAY, **fields})


# -- 2. control characters in free text -------------------------------------------------------------------
@pytest.mark.parametrize("text", ["wrong person\x00", "wrong\nperson", "wrong\x1b[2Jperson", "wrong \u202eperson"])
def test_2_control_characters_are_refused_in_reasons_and_authors(admin, text):
    client, store, ann, entry = admin
    before = len(store.punch_log())
    void = correction(client, "/admin/corrections/void", entry=entry.id, note=text)
    added = correction(client, "/admin/corrections/add", employee=ann, day="2026-03-02", time="17:00", direction="out", note=text)
    assert void.status_code == added.status_code == 302 and len(store.punch_log()) == before
    assert "control characters" in client.get(DAY).get_data(as_text=True)
    for field in ("note", "author"):
        with pytest.raises(ValueError, match="control characters"):
            store.add_correction(
                ann, "void", at=T0, work_day=T0.date(), target=entry.id, **{"note": "x", "author": "admin", field: text}
            )
    assert len(store.punch_log()) == before


def test_2_control_characters_are_refused_in_hours(admin):
    client, store, ann, _ = admin
    with pytest.raises(ValueError):
        store.set_expected_start(ann, "08:30\n")
    page = client.post(
        f"/admin/employees/{ann}/hours",
        data={"csrf_token": form_token(client, f"/admin/employees/{ann}"), "expected_start": "08:30\n"},
        follow_redirects=True,
    )
    assert page.status_code == 200 and b"Use a time such as 08:30" in page.data
    assert store.get_employee(ann).expected_start is None


# -- 11. routes that answered 500 ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/admin/employees/99999999999999999999",
        "/admin/employees/99999999999999999999/photo.png",
        "/admin/attendance?employee=%C2%B2",
        "/admin/timesheet?view=range&employee=%C2%B2",
        "/admin/attendance.csv?employee=" + "9" * 5000,
        "/admin/timesheet?view=range&employee=" + "9" * 5000,
        "/admin/timesheet?date=9999-12-31",
        "/admin/timesheet?date=0001-01-01",
        "/admin/timesheet?view=week&date=9999-12-31",
        "/admin/timesheet?view=week&date=0001-01-01",
        "/admin/attendance?from=0001-01-01&to=0001-01-02",
        "/admin/timesheet.csv?from=9999-12-30&to=9999-12-31",
        "/admin/login?next=/admin/%0D%0ASet-Cookie:x=1",
    ],
)
def test_11_hostile_addresses_are_a_400_with_a_message(admin, path):
    client, *_ = admin
    response = client.get(path)
    assert response.status_code == 400, path
    assert b"Bad request" in response.data and (b"must" in response.data or b"is not" in response.data)


def test_11_hostile_forms_are_a_400_with_a_message_and_record_nothing(admin, tmp_path):
    client, store, ann, entry = admin
    before = len(store.punch_log())
    for path, fields in [
        ("/admin/corrections/void", {"entry": "9" * 30, "note": "x"}),
        ("/admin/corrections/direction", {"entry": "9" * 30, "note": "x", "direction": "in"}),
        ("/admin/corrections/add", {"employee": ann, "day": "0001-01-01", "time": "00:10", "direction": "in", "note": "x"}),
        ("/admin/corrections/add", {"employee": ann, "day": "9999-12-31", "time": "23:50", "direction": "in", "note": "x"}),
        ("/admin/corrections/void", {"entry": entry.id, "note": "x", "back": "/admin/\r\nSet-Cookie: x=1"}),
    ]:
        response = correction(client, path, **fields)
        assert response.status_code == 400, (path, fields)
        assert b"Bad request" in response.data
    assert len(store.punch_log()) == before
    token = form_token(client, "/admin/login")
    client.post("/admin/logout", data={"csrf_token": form_token(client, DAY)})
    login_page = client.post("/admin/login?next=/admin/%0D%0ALocation:x", data={"csrf_token": token, "password": PASSWORD})
    assert login_page.status_code == 400
