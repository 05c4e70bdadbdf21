"""Payroll exports: the rules on hand-made day records, each file read back
with the csv module against the timesheet, and the page and the command."""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk import attendance, cli, payroll
from kiosk.attendance import IN, OUT, Entry
from kiosk.config import AttendanceSettings, Config, KioskSettings
from kiosk.staff_file import Person, split_name
from kiosk.status import Status
from kiosk.store import Store
from kiosk.web import create_app, passwords
from kiosk.web.timesheets import TIMESHEET_COLUMNS, timesheet_rows
from tests.helpers import PASSWORD, application, login, punch, services

UTC = dt.UTC
MONDAY = dt.date(2026, 11, 2)


def at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=UTC)


def week_of(employee_id: int, first_id: int, days: int, start=(8, 0), end=(17, 30)) -> list[Entry]:
    """One person's punches, IN at ``start`` and OUT at ``end``, on ``days`` days from MONDAY."""
    entries = []
    for i in range(days):
        day = MONDAY + dt.timedelta(days=i)
        entries.append(Entry(first_id + 2 * i, employee_id, at(day, *start), direction=IN))
        entries.append(Entry(first_id + 2 * i + 1, employee_id, at(day, *end), direction=OUT))
    return entries


def records(entries, first=MONDAY, last=MONDAY + dt.timedelta(days=13)):
    return attendance.timesheet(entries, first, last, UTC)


PEOPLE = {
    1: Person(1, "Ada Lovelace", "E-001"),
    2: Person(2, "Mary Ann Evans", "E-002", first_name="George", last_name="Eliot"),
}


def read(header, rows) -> list[dict]:
    from kiosk.csv_cells import csv_text

    text = csv_text(header, rows)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


def test_split_name_takes_the_last_word_as_the_last_name():
    assert split_name("Mary Ann Smith") == ("Mary Ann", "Smith")
    assert split_name("Cher") == ("Cher", "")
    assert Person(1, "Mary Ann Smith").first == "Mary Ann" and Person(1, "Mary Ann Smith").last == "Smith"
    # Set names win; an empty one is still taken from the display name.
    assert (Person(1, "Mary Smith", first_name="Maria").first, Person(1, "Mary Smith", first_name="Maria").last) == (
        "Maria",
        "Smith",
    )


def test_hours_round_half_up_from_seconds():
    assert payroll.hours(dt.timedelta(hours=7, minutes=30, seconds=18)) == Decimal("7.51")
    assert payroll.hours(dt.timedelta(minutes=20)) == Decimal("0.33")
    assert payroll.hours(dt.timedelta(hours=9, minutes=30)) == Decimal("9.50")


def test_bamboohr_has_one_row_per_person_and_worked_day_with_the_timesheets_hours():
    days = records(week_of(1, 100, 3) + week_of(2, 200, 2, start=(9, 0), end=(13, 20)))
    rows = read(payroll.BAMBOOHR_COLUMNS, payroll.bamboohr(days, PEOPLE))
    sheet = read(TIMESHEET_COLUMNS, timesheet_rows(days, {1: "Ada Lovelace", 2: "Mary Ann Evans"}, UTC))
    assert [(r["employeeNumber"], r["dateWorked"], r["hoursWorked"]) for r in rows] == [
        ({"1": "E-001", "2": "E-002"}[s["employee_id"]], s["work_date"], s["worked_hours"]) for s in sheet
    ]
    assert {r["rateType"] for r in rows} == {"REG"} and rows[0]["hoursWorked"] == "9.50" and rows[-1]["hoursWorked"] == "4.33"


def test_gusto_splits_a_week_over_forty_hours_into_overtime():
    # 5 days of 9.5 h (47.5 h) in week one; 2 days (19 h) in week two: 7.5 h overtime in all.
    days = records(week_of(1, 100, 5) + _second_week(1, 300, 2))
    rows = read(payroll.GUSTO_COLUMNS, payroll.gusto(days, PEOPLE, 40))
    assert rows == [{"first_name": "Ada", "last_name": "Lovelace", "regular_hours": "59.00", "overtime_hours": "7.50"}]
    total = sum(Decimal(s["worked_hours"]) for s in read(TIMESHEET_COLUMNS, timesheet_rows(days, {}, UTC)))
    assert Decimal(rows[0]["regular_hours"]) + Decimal(rows[0]["overtime_hours"]) == total == Decimal("66.50")
    # A lower limit from [payroll] overtime_after_hours.
    assert payroll.gusto(days, PEOPLE, 37.5)[0][2:] == ["56.50", "10.00"]


def _second_week(employee_id, first_id, days):
    return [
        Entry(e.id, e.employee_id, e.at + dt.timedelta(days=7), direction=e.direction)
        for e in week_of(employee_id, first_id, days)
    ]


def test_gusto_uses_the_set_first_and_last_names_and_sorts_by_last_name():
    days = records(week_of(1, 100, 1) + week_of(2, 200, 1))
    rows = payroll.gusto(days, PEOPLE, 40)
    assert [r[:2] for r in rows] == [["George", "Eliot"], ["Ada", "Lovelace"]]


def test_generic_rows_have_start_end_break_and_hours():
    entries = [
        Entry(1, 1, at(MONDAY, 8), direction=IN),
        Entry(2, 1, at(MONDAY, 12), direction=OUT),
        Entry(3, 1, at(MONDAY, 12, 45), direction=IN),
        Entry(4, 1, at(MONDAY, 17), direction=OUT),
    ]
    rows = read(payroll.GENERIC_COLUMNS, payroll.generic(records(entries), PEOPLE, UTC))
    assert rows == [
        {
            "employee_number": "E-001",
            "name": "Ada Lovelace",
            "date": "2026-11-02",
            "start": "08:00",
            "end": "17:00",
            "break_minutes": "45",
            "hours": "8.25",
        }
    ]


def test_days_missing_an_out_and_people_without_numbers_are_warned_of():
    entries = week_of(1, 100, 1) + [Entry(50, 3, at(MONDAY, 9), direction=IN), Entry(51, 3, at(MONDAY, 10), direction=OUT)]
    entries.append(Entry(60, 1, at(MONDAY + dt.timedelta(days=1), 8), direction=IN))
    people = {**PEOPLE, 3: Person(3, "Bo Tan")}
    export = payroll.export("bamboohr", records(entries), people, UTC, 40)
    assert [r[1] for r in export.rows] == ["2026-11-02", "2026-11-02"]  # the open day counts nothing
    assert any("Ada Lovelace on 2026-11-03" in w for w in export.warnings)
    assert any("Bo Tan has no employee number" in w for w in export.warnings)
    assert not any("employee number" in w for w in payroll.export("gusto", records(entries), people, UTC, 40).warnings)
    with pytest.raises(ValueError, match="bamboohr, gusto, generic"):
        payroll.export("sage", [], people, UTC, 40)


def test_cells_a_spreadsheet_would_run_are_guarded():
    people = {1: Person(1, '=HYPERLINK("http://evil.example","x")', "E1", first_name="+cmd", last_name="@SUM(A1)")}
    days = records(week_of(1, 100, 1))
    generic = read(payroll.GENERIC_COLUMNS, payroll.generic(days, people, UTC))
    assert generic[0]["name"].startswith("'=")
    gusto = read(payroll.GUSTO_COLUMNS, payroll.gusto(days, people, 40))
    assert (gusto[0]["first_name"], gusto[0]["last_name"]) == ("'+cmd", "'@SUM(A1)")


# ---- through the application, the page and the command ------------------------------------------------


def _staffed(db: Path) -> Store:
    store = Store(db)
    app = application(store, rules=AttendanceSettings(timezone="UTC"))
    app.staff.import_file("name,employee_number,first_name,last_name\nAda Lovelace,E-001,,\nMary Ann Evans,E-002,George,Eliot\n")
    for i in range(5):
        day = MONDAY + dt.timedelta(days=i)
        punch(store, 1, at(day, 8))
        punch(store, 1, at(day, 17, 30))
    punch(store, 2, at(MONDAY, 9))
    punch(store, 2, at(MONDAY, 13, 20))
    return store


def test_the_application_exports_what_its_timesheet_says(tmp_path):
    store = _staffed(tmp_path / "kiosk.db")
    app = application(store, rules=AttendanceSettings(timezone="UTC"))
    sunday = MONDAY + dt.timedelta(days=6)
    gusto = app.staff.payroll("gusto", MONDAY, sunday, 40)
    assert gusto.rows == [["George", "Eliot", "4.33", "0.00"], ["Ada", "Lovelace", "40.00", "7.50"]]
    bamboo = app.staff.payroll("bamboohr", MONDAY, sunday, 40)
    assert len(bamboo.rows) == 6 and bamboo.warnings == []


@pytest.fixture
def admin(tmp_path):
    passwords.set_password(tmp_path, PASSWORD)
    _staffed(tmp_path / "kiosk.db").close()
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), attendance=AttendanceSettings(timezone="UTC"))
    client = create_app(config, services(tmp_path / "kiosk.db", Status()), {"TESTING": True}).test_client()
    return client


def test_the_timesheet_page_offers_the_payroll_files_to_admins_only(admin):
    url = "/admin/payroll.csv?format=gusto&from=2026-11-02&to=2026-11-08"
    assert admin.get(url).status_code == 302  # to the login page
    assert login(admin).status_code == 302
    page = admin.get("/admin/timesheet?view=range&from=2026-11-02&to=2026-11-08").get_data(as_text=True)
    assert "payroll.csv?format=bamboohr" in page and "format=gusto" in page and "format=generic" in page
    response = admin.get(url)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "gusto-2026-11-02-2026-11-08.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1] == {"first_name": "Ada", "last_name": "Lovelace", "regular_hours": "40.00", "overtime_hours": "7.50"}
    assert admin.get("/admin/payroll.csv?format=sage&from=2026-11-02&to=2026-11-08").status_code == 400
    assert admin.get("/admin/payroll.csv?format=gusto&from=2026-11-08&to=2026-11-02").status_code == 400


def test_kiosk_export_writes_each_format(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _staffed(data / "kiosk.db").close()
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[kiosk]\ndata_dir = "{data}"\n[attendance]\ntimezone = "UTC"\n[payroll]\novertime_after_hours = 45\n')
    out = tmp_path / "bamboo.csv"
    args = ["-c", str(config), "--from", "2026-11-02", "--to", "2026-11-08"]
    assert cli.main(["export", "--format", "bamboohr", *args, "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["hoursWorked"] for r in rows if r["employeeNumber"] == "E-001"] == ["9.50"] * 5
    assert cli.main(["export", "--format", "gusto", *args]) == 0
    printed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert printed[1]["regular_hours"] == "45.00" and printed[1]["overtime_hours"] == "2.50"
    assert cli.main(["export", "--format", "generic", "-c", str(config), "--from", "2026-11-08", "--to", "2026-11-02"]) == 1
    with pytest.raises(SystemExit):
        cli.main(["export", "--format", "generic", "-c", str(config), "--from", "2 Nov", "--to", "2026-11-02"])
