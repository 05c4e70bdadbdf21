"""Staff files: every problem reported by line and column and nothing half
imported, updates rather than duplicates, people without a photo, payroll
details on a person's page, and the page and the command."""

import csv
import io

import numpy as np
import pytest

from kiosk import cli
from kiosk.config import Config, KioskSettings
from kiosk.staff_file import StaffFileError, parse
from kiosk.status import Status
from kiosk.store import Store
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, application, form_token, login, services

GOOD = "name,employee_number,expected_start\nAda Lovelace,E-001,08:30\nBo Tan,E-002,\n"


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "kiosk.db")


def test_a_file_adds_people_without_photos_whom_the_gallery_leaves_out(store):
    app = application(store)
    result = app.staff.import_file(GOOD)
    assert (len(result.added), result.updated, result.unchanged) == (2, 0, 0)
    people = {p.name: p for p in app.staff.people()}
    assert people["Ada Lovelace"].employee_number == "E-001" and people["Ada Lovelace"].expected_start == "08:30"
    assert not people["Bo Tan"].has_photo and app.staff.without_photo() == set(result.added)
    assert len(store.gallery("any model")) == 0 and store.stale_references("any model") == []
    assert [e.name for e in app.employees()] == ["Ada Lovelace", "Bo Tan"]  # on the timesheet all the same


def test_every_problem_is_reported_by_line_and_column_and_nothing_is_imported(store):
    app = application(store)
    app.staff.import_file(GOOD)
    bad = "name,employee_number,expected_start,first_name\nCy Dee,E-003,8.30,\n,E-004,,\nEd Fox,=1+1,,\nGil Ho,E-005,,Gil\u202e\n"
    with pytest.raises(StaffFileError) as raised:
        app.staff.import_file(bad, "team.csv")
    found = [(p.line, p.column) for p in raised.value.problems]
    assert found == [(2, "expected_start"), (3, "name"), (4, "employee_number"), (5, "first_name")]
    message = str(raised.value)
    assert "team.csv, line 2, column expected_start:" in message and "HH:MM such as 08:30" in message
    assert "nothing was imported" in message
    assert [p.name for p in app.staff.people()] == ["Ada Lovelace", "Bo Tan"]  # not even Cy Dee, whose name was fine


def test_rows_that_clash_are_refused_before_anything_changes(store):
    app = application(store)
    app.staff.import_file(GOOD)
    clash = "name,employee_number\nNew One,E-009\nNew Two,E-009\nAda Lovelace,E-777\nZed,\nZed,\n"
    with pytest.raises(StaffFileError) as raised:
        app.staff.import_file(clash)
    assert [(p.line, p.column) for p in raised.value.problems] == [(3, "employee_number"), (4, "employee_number"), (6, "name")]
    assert "already has employee number E-001" in str(raised.value)
    assert len(app.staff.people()) == 2


def test_header_problems_name_the_columns_allowed():
    with pytest.raises(StaffFileError, match=r"line 1, column Email: unknown column; the columns are name, employee_number"):
        parse("name,Email\nA,b\n")
    with pytest.raises(StaffFileError, match="no 'name' column"):
        parse("employee_number\nE1\n")
    with pytest.raises(StaffFileError, match="the file is empty"):
        parse("")
    assert parse("\ufeffName,Employee Number\nAda,E1\n")[0].details == {"employee_number": "E1"}


def test_a_person_already_there_is_updated_by_number_else_by_name(store):
    app = application(store)
    app.staff.import_file(GOOD)
    ids = {p.name: p.id for p in app.staff.people()}
    # By number: renamed. By name: gets details. Left-out columns keep their values; empty cells clear them.
    result = app.staff.import_file("name,employee_number,first_name\nAda King,E-001,Augusta\nBo Tan,E-002,\nNew Person,,\n")
    assert (len(result.added), result.updated, result.unchanged) == (1, 1, 1)
    people = {p.id: p for p in app.staff.people()}
    assert people[ids["Ada Lovelace"]].name == "Ada King" and people[ids["Ada Lovelace"]].first_name == "Augusta"
    assert people[ids["Ada Lovelace"]].expected_start == "08:30"  # no expected_start column: kept
    assert len(people) == 3
    app.staff.import_file("name,expected_start\nbo tan,\n")  # the name matches whatever its case; the empty time clears
    assert app.staff.person(ids["Bo Tan"]).expected_start is None and app.staff.person(ids["Bo Tan"]).name == "bo tan"


def test_the_export_imports_again_unchanged_with_names_and_numbers_intact(store):
    app = application(store)
    app.staff.import_file("name,employee_number,first_name,last_name\nMary Ann Evans,E-2,George,Eliot\n=cmd,E-3,,\n")
    exported = app.staff.export_file()
    rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert rows[0]["name"] == "'=cmd"  # the formula guard
    assert rows[1] == {
        "name": "Mary Ann Evans",
        "employee_number": "E-2",
        "expected_start": "",
        "first_name": "George",
        "last_name": "Eliot",
    }
    again = app.staff.import_file(exported)  # the guard's quote is taken off again
    assert (again.added, again.updated, again.unchanged) == ([], 0, 2)


def test_payroll_details_are_checked_and_numbers_are_one_persons(store):
    app = application(store)
    app.staff.import_file(GOOD)
    ada, bo = (p.id for p in app.staff.people())
    app.staff.set_details(bo, " E-010 ", "Bo", "")
    assert (app.staff.person(bo).employee_number, app.staff.person(bo).first_name, app.staff.person(bo).last_name) == (
        "E-010",
        "Bo",
        None,
    )
    with pytest.raises(ValueError, match="already Ada Lovelace's"):
        app.staff.set_details(bo, "E-001", None, None)
    with pytest.raises(ValueError, match="not an employee number"):
        app.staff.set_details(bo, "E 1", None, None)
    app.staff.set_details(ada, "", None, None)  # cleared: the number is free again
    app.staff.set_details(bo, "E-001", None, None)
    assert app.staff.person(bo).employee_number == "E-001"


def test_a_person_with_a_photo_keeps_it_through_an_import(store):
    employee = store.add_employee(
        "Photo Person",
        image=None,
        face=None,
        crop=np.zeros((8, 8, 3), np.uint8),
        embedding=np.ones(4, np.float32),
        model_version="m",
    )
    app = application(store)
    app.staff.import_file("name,employee_number\nPhoto Person,E-1\n")
    assert app.staff.person(employee).has_photo and len(store.gallery("m")) == 1


# ---- the staff page -----------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path):
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path))
    return create_app(config, services(tmp_path / "kiosk.db", Status()), {"TESTING": True}).test_client()


def upload(client, text: bytes, name="team.csv"):
    return client.post(
        "/admin/staff/import",
        data={"csrf_token": form_token(client), "file": (io.BytesIO(text), name)},
        content_type="multipart/form-data",
    )


def test_the_staff_page_imports_and_exports_for_admins_only(client):
    assert client.get("/admin/staff.csv").status_code == 302
    assert client.post("/admin/staff/import", data={}).status_code in (302, 400)
    assert login(client).status_code == 302
    assert client.post("/admin/staff/import", data={"file": (io.BytesIO(GOOD.encode()), "t.csv")}).status_code == 400  # no CSRF
    done = upload(client, GOOD.encode("utf-8-sig"))
    assert done.status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert "2 added, 0 updated, 0 unchanged" in page and page.count("photo needed") == 2
    exported = client.get("/admin/staff.csv")
    assert exported.mimetype == "text/csv" and "Ada Lovelace,E-001,08:30" in exported.get_data(as_text=True)


def test_a_bad_upload_lists_each_line_and_imports_nothing(client):
    assert login(client).status_code == 302
    refused = upload(client, b"name,employee_number\nCy Dee,E 3\n,E-4\n")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Line 2, column employee_number" in text and "Line 3, column name" in text
    assert "nothing was imported" in text and "Cy Dee</a>" not in text
    assert upload(client, "name\nAda\n".encode("utf-16")).status_code == 422


def test_a_person_without_a_photo_has_a_page_and_no_broken_picture(client):
    assert login(client).status_code == 302
    upload(client, GOOD.encode())
    page = client.get("/admin/employees/1").get_data(as_text=True)
    assert "Photo needed" in page and "/admin/employees/1/photo.png" not in page
    assert client.get("/admin/employees/1/photo.png").status_code == 404
    saved = client.post(
        "/admin/employees/1/payroll",
        data={
            "csrf_token": form_token(client, "/admin/employees/1"),
            "employee_number": "P-9",
            "first_name": "Augusta",
            "last_name": "",
        },
    )
    assert saved.status_code == 302
    page = client.get("/admin/employees/1").get_data(as_text=True)
    assert "Payroll details saved." in page and "P-9" in page and "Augusta Lovelace" in page
    refused = client.post(
        "/admin/employees/2/payroll",
        data={
            "csrf_token": form_token(client, "/admin/employees/2"),
            "employee_number": "P-9",
            "first_name": "",
            "last_name": "",
        },
    )
    assert "Not saved: employee number P-9 is already Ada Lovelace" in client.get(refused.headers["Location"]).get_data(
        as_text=True
    )


# ---- the command ------------------------------------------------------------------------------------------


def test_kiosk_staff_import_and_export(tmp_path, capsys):
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[kiosk]\ndata_dir = "{tmp_path / "data"}"\n')
    (tmp_path / "data").mkdir()
    team = tmp_path / "team.csv"
    team.write_text(GOOD, encoding="utf-8")
    assert cli.main(["staff", "import", str(team), "-c", str(config)]) == 0
    assert "2 added, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert cli.main(["staff", "import", str(team), "-c", str(config)]) == 0
    assert "0 added, 0 updated, 2 unchanged" in capsys.readouterr().out
    team.write_text("name,expected_start\nAda Lovelace,9am\n", encoding="utf-8")
    assert cli.main(["staff", "import", str(team), "-c", str(config)]) == 1
    assert f"{team}, line 2, column expected_start" in capsys.readouterr().err
    out = tmp_path / "out.csv"
    assert cli.main(["staff", "export", str(out), "-c", str(config)]) == 0
    assert out.read_text(encoding="utf-8-sig").splitlines()[1:] == ["Ada Lovelace,E-001,08:30,,", "Bo Tan,E-002,,,"]


def test_a_fleet_member_imports_nothing_while_the_fleet_database_is_away(tmp_path):
    """A fleet member writes staff files on the fleet database first (tests/test_fleet.py): while it
    cannot be reached, nothing is imported and nothing changes here."""
    from kiosk.fleet.central import Central, Unreachable
    from kiosk.fleet.replica import MemberStore

    central = Central("postgresql://kiosk@127.0.0.1:1/nowhere", connect_timeout=1)
    try:
        member = MemberStore(Store(tmp_path / "member.db"), central)
        app = application(member)
        with pytest.raises(Unreachable):
            app.staff.import_file(GOOD)
        assert app.staff.people() == []
    finally:
        central.close()
