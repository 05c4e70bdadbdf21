"""Timesheets a manager can pay from: a day, a week or any range per person,
the raw punch log, CSV exports of both, and corrections (add a missing punch,
void a wrong one, change a direction) that never change or delete a row.
The rules are in kiosk.attendance; this module only shows them."""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, Length

from kiosk import attendance
from kiosk.application import UnknownEntry
from kiosk.attendance import DayRecord, Entry
from kiosk.csv_cells import safe_cell  # the formula guard, shared with the payroll and staff files
from kiosk.store import UnknownEmployee
from kiosk.web import payroll_page
from kiosk.web.auth import client_address, local_target, login_required
from kiosk.web.services import application, services

bp = Blueprint("timesheets", __name__, url_prefix="/admin")
MAX_RANGE_DAYS = 370
# Days a timesheet can show: well inside what dates, time zones and the week's arithmetic can hold.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2999, 12, 31)
MAX_ID = 2**63 - 1  # SQLite's largest integer
DIRECTIONS = [("in", "IN"), ("out", "OUT")]

PUNCH_COLUMNS = [
    "entry_id",
    "employee_id",
    "name",
    "work_date",
    "time",
    "timestamp",
    "direction",
    "kind",
    "corrects_entry",
    "counts",
    "kiosk",
    "distance",
    "author",
    "reason",
]
TIMESHEET_COLUMNS = [
    "employee_id",
    "name",
    "work_date",
    "first_in",
    "last_out",
    "worked_hours",
    "worked",
    "complete",
    "missing_out",
    "out_without_in",
    "late_minutes",
    "corrections",
]


class AddForm(FlaskForm):
    employee = SelectField("Person", coerce=int)
    day = DateField("Day", validators=[DataRequired()])
    time = TimeField("Time", validators=[DataRequired()])
    direction = SelectField("In/out", choices=DIRECTIONS)
    note = StringField("Reason", validators=[DataRequired(), Length(max=300)])
    back = HiddenField()


class VoidForm(FlaskForm):
    entry = IntegerField(validators=[DataRequired()])
    note = StringField("Reason", validators=[DataRequired(), Length(max=300)])
    wrong_person = BooleanField("It was someone else")  # also forgets the face the kiosk learnt from that visit
    back = HiddenField()


class RedirectForm(FlaskForm):
    entry = IntegerField(validators=[DataRequired()])
    direction = SelectField("Now", choices=DIRECTIONS)
    note = StringField("Reason", validators=[DataRequired(), Length(max=300)])
    back = HiddenField()


def _rules():
    return current_app.config["KIOSK_CONFIG"].attendance


def _date_arg(name: str, default: dt.date) -> dt.date:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        abort(400, description=f"'{name}' must be a date such as 2026-11-23.")
    return _in_calendar(day, name)


def _in_calendar(day: dt.date, name: str) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        abort(400, description=f"'{name}' must be a date from {FIRST_DAY} to {LAST_DAY}.")
    return day


def _person_arg() -> int | None:
    raw = request.args.get("employee", "")
    if not raw:
        return None
    # isdigit alone lets "²" through, and a 5,000-digit number is too long for int() and for SQLite.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_ID:
        abort(400, description="'employee' must be a person's number.")
    return int(raw)


def _today() -> dt.date:
    return application().today()


def _range(default_first: dt.date, default_last: dt.date) -> tuple[dt.date, dt.date]:
    first, last = _date_arg("from", default_first), _date_arg("to", default_last)
    if last < first:
        abort(400, description="'to' is before 'from'.")
    if (last - first).days > MAX_RANGE_DAYS:
        abort(400, description=f"Choose at most {MAX_RANGE_DAYS} days at once.")
    return first, last


def _records(first: dt.date, last: dt.date, who: int | None = None) -> tuple[list[DayRecord], dict[int, str]]:
    app = application()
    return app.timesheet(first, last, who), app.names()


def _forms(employees, back: str):
    add = AddForm(back=back)
    add.employee.choices = [(e.id, e.name) for e in employees]
    return add, VoidForm(back=back), RedirectForm(back=back)


@bp.get("/attendance")
@login_required
def attendance_log():
    """The raw log: every punch and correction, as recorded."""
    today = _today()
    first, last = _range(today, today)
    who = _person_arg()
    app = application()
    rows = app.punch_log(first, last, who)
    return render_template(
        "punch_log.html",
        photos=app.punch_photos_of([r.id for r in rows]),
        rows=rows,
        first=first,
        last=last,
        who=who,
        employees=app.employees(),
    )


@bp.get("/punches/<int:entry_id>/photo.jpg")
@login_required
def punch_photo(entry_id):
    """The face behind a punch: admins only, never cached, gone after punch_photo_days."""
    jpeg = application().punch_photo(entry_id)
    if jpeg is None:
        abort(404, description=f"No photo of punch {entry_id} (kept {_rules().punch_photo_days} days).")
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.get("/timesheet")
@login_required
def timesheet():
    view = request.args.get("view", "day")
    today = _today()
    rules = _rules()
    employees = application().employees()
    if view == "day":
        day = _date_arg("date", today)
        records, names = _records(day, day)
        missing = [e for e in employees if e.id in application().not_arrived(day, records)]
        add, void, redirect_form = _forms(employees, request.full_path)
        return render_template(
            "timesheet_day.html",
            day=day,
            records=records,
            names=names,
            not_arrived=missing,
            add=add,
            void=void,
            redirect_form=redirect_form,
            zone=rules.zone(),
            today=today,
            prev=day - dt.timedelta(days=1),
            next=day + dt.timedelta(days=1),
            default_start=rules.expected_start,
            photos=application().punch_photos_of([c.entry.id for r in records for c in r.punches]),
        )
    if view == "week":
        day = _date_arg("date", today)
        monday = day - dt.timedelta(days=day.weekday())
        days = [monday + dt.timedelta(days=i) for i in range(7)]
        records, names = _records(days[0], days[-1])
        grid = {(r.employee_id, r.day): r for r in records}
        people = sorted({r.employee_id for r in records} | {e.id for e in employees}, key=lambda i: (names.get(i, ""), i))
        return render_template(
            "timesheet_week.html",
            days=days,
            grid=grid,
            people=people,
            names=names,
            totals=attendance.week_totals(records),
            prev=monday - dt.timedelta(days=7),
            next=monday + dt.timedelta(days=7),
        )
    if view == "range":
        first, last = _range(today - dt.timedelta(days=today.weekday()), today)
        who = _person_arg()
        records, names = _records(first, last, who)
        return render_template(
            "timesheet_range.html",
            first=first,
            last=last,
            records=records,
            names=names,
            totals=attendance.week_totals(records),
            employees=employees,
            who=who,
            zone=rules.zone(),
        )
    abort(400, description="'view' must be day, week or range.")


def _author() -> str:
    return f"admin ({client_address()})"


def _back(form) -> str:
    return local_target(form.back.data or "", "back", url_for("timesheets.timesheet"))


@bp.post("/corrections/add")
@login_required
def add_punch():
    _corrections_here()
    form = AddForm()
    form.employee.choices = [(e.id, e.name) for e in application().employees()]
    back = _back(form)
    if form.day.data is not None:
        _in_calendar(form.day.data, "day")
    if not form.validate_on_submit():
        flash("To add a punch, choose a person, a day, a time and give a reason.")
        return redirect(back)
    try:
        application().add_punch(
            form.employee.data, form.day.data, form.time.data, form.direction.data, author=_author(), note=form.note.data
        )
    except (ValueError, UnknownEmployee) as exc:
        flash(f"Not recorded: {exc}")
        return redirect(back)
    flash("Punch added.")
    return redirect(back)


def _corrections_here() -> None:
    """A door of a fleet records punches only; the fleet database refuses its corrections."""
    if not services().staff_managed_here:
        abort(
            403,
            description="This kiosk is one door of a fleet: corrections are made on the fleet's admin server, "
            "and reach every door from there. Nothing was changed.",
        )


def _correct(kind: str, form, **extra):
    _corrections_here()
    back = _back(form)
    if form.entry.data is not None and not 0 < form.entry.data <= MAX_ID:
        abort(400, description="'entry' must be a punch's number.")
    if not form.validate_on_submit():
        flash("Give a reason for the correction.")
        return redirect(back)
    try:
        application().correct(form.entry.data, kind, author=_author(), note=form.note.data, **extra)
    except UnknownEntry:
        abort(404, description=f"No punch {form.entry.data}.")
    except (ValueError, UnknownEmployee) as exc:
        flash(f"Not recorded: {exc}")
        return redirect(back)
    flash("Correction recorded; the original punch stays in the log.")
    return redirect(back)


@bp.post("/corrections/void")
@login_required
def void_punch():
    form = VoidForm()
    return _correct(attendance.VOID, form, wrong_person=bool(form.wrong_person.data))


@bp.post("/corrections/direction")
@login_required
def change_direction():
    form = RedirectForm()
    return _correct(attendance.REDIRECT, form, direction=form.direction.data)


def _csv(rows: list[list], header: list[str], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",  # the BOM tells spreadsheets it is UTF-8
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


def punch_rows(entries: list[Entry], names: dict[int, str], zone, work_day) -> list[list]:
    voided = {e.target for e in entries if e.kind == attendance.VOID}
    rows = []
    for e in entries:
        local = e.at.astimezone(zone)
        counts = e.kind in (attendance.PUNCH, attendance.ADDED) and e.id not in voided
        rows.append(
            [
                e.id,
                e.employee_id,
                names.get(e.employee_id, ""),
                work_day(e.at).isoformat(),
                local.strftime("%H:%M:%S"),
                local.isoformat(),
                e.direction or "",
                e.kind,
                e.target or "",
                "yes" if counts else "no",
                e.kiosk_id or "",
                "" if e.distance is None else f"{e.distance:.4f}",
                e.author or "",
                e.note or "",
            ]
        )
    return rows


def timesheet_rows(records: list[DayRecord], names: dict[int, str], zone) -> list[list]:
    def hm(at):
        return at.astimezone(zone).strftime("%H:%M") if at else ""

    rows = []
    for r in records:
        minutes = round(r.worked.total_seconds() / 60)
        late = r.late_by
        rows.append(
            [
                r.employee_id,
                names.get(r.employee_id, ""),
                r.day.isoformat(),
                hm(r.first_in),
                hm(r.last_out),
                f"{r.worked.total_seconds() / 3600:.2f}",
                f"{minutes // 60}:{minutes % 60:02d}",
                "yes" if r.complete else "no",
                " ".join(hm(t) for t in r.missing_out),
                " ".join(hm(t) for t in r.out_without_in),
                "" if late is None else round(late.total_seconds() / 60),
                len(r.corrections),
            ]
        )
    return rows


@bp.get("/attendance.csv")
@login_required
def punches_csv():
    today = _today()
    first, last = _range(today, today)
    app = application()
    entries = app.entries(first, last, _person_arg())
    in_range = [e for e in entries if first <= app.work_day(e.at) <= last or e.kind in (attendance.VOID, attendance.REDIRECT)]
    rows = punch_rows(in_range, app.names(), app.zone, app.work_day)
    return _csv(rows, PUNCH_COLUMNS, f"punches-{first}-{last}.csv")


@bp.get("/timesheet.csv")
@login_required
def timesheet_csv():
    today = _today()
    first, last = _range(today - dt.timedelta(days=today.weekday()), today)
    records, names = _records(first, last, _person_arg())
    return _csv(timesheet_rows(records, names, _rules().zone()), TIMESHEET_COLUMNS, f"timesheet-{first}-{last}.csv")


payroll_page.add_routes(bp, lambda: _range(_today() - dt.timedelta(days=_today().weekday()), _today()))
