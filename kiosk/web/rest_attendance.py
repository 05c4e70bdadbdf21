"""The REST API's attendance routes: punches and timesheets of a range (the
timesheet pages' queries), and corrections (add a missing punch, void a
wrong one) through the application's operations, as the pages make them."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify

from kiosk import attendance
from kiosk.attendance import DayRecord, Entry
from kiosk.names import clean_text
from kiosk.web.api_auth import ApiError, bad, date, date_range, flag, identifier, json_body, log, person_arg, require, text, token
from kiosk.web.services import application, services

ADD_FIELDS = {"employee_id", "day", "time", "direction", "note"}
VOID_FIELDS = {"note", "wrong_person"}


def entry_json(e: Entry, voided: set[int]) -> dict:
    app = application()
    return {
        "id": e.id,
        "employee_id": e.employee_id,
        "work_date": app.work_day(e.at).isoformat(),
        "at": e.at.astimezone(app.zone).isoformat(),
        "direction": e.direction,
        "kind": e.kind,
        "corrects_entry": e.target,
        "counts": e.kind in (attendance.PUNCH, attendance.ADDED) and e.id not in voided,
        "kiosk": e.kiosk_id,
        "distance": None if e.distance is None else round(e.distance, 4),
        "author": e.author,
        "note": e.note,
    }


def record_json(r: DayRecord) -> dict:
    zone = application().zone

    def local(at: dt.datetime | None) -> str | None:
        return None if at is None else at.astimezone(zone).isoformat()

    late = r.late_by
    return {
        "employee_id": r.employee_id,
        "work_date": r.day.isoformat(),
        "first_in": local(r.first_in),
        "last_out": local(r.last_out),
        "worked_minutes": round(r.worked.total_seconds() / 60),
        "complete": r.complete,
        "missing_out": [local(t) for t in r.missing_out],
        "out_without_in": [local(t) for t in r.out_without_in],
        "late_minutes": None if late is None else round(late.total_seconds() / 60),
        "punches": [c.entry.id for c in r.punches],
        "corrections": [c.id for c in r.corrections],
    }


def _corrections_here() -> None:
    """A door of a fleet records punches only; the fleet database refuses its corrections (as the pages say)."""
    if not services().staff_managed_here:
        raise ApiError(
            403,
            "managed_elsewhere",
            "This kiosk is one door of a fleet: corrections are made on the fleet's admin server, "
            "and reach every door from there. Nothing was changed.",
        )


def _author() -> str:
    return f"api token {token().name}"


def _note(body: dict) -> str:
    try:
        return clean_text(text(body.get("note"), "note"), "reason")
    except ValueError as exc:
        raise bad("note", f"'note' is the reason for the correction: {exc}.") from None


def add_routes(bp: Blueprint) -> None:
    """The attendance routes on the API's blueprint."""

    @bp.get("/punches")
    @require("read")
    def punches():
        """Every punch and correction of the work days ``from``..``to`` (default today), as recorded."""
        app = application()
        today = app.today()
        first, last = date_range(today, today)
        entries = app.entries(first, last, person_arg())
        # As the punch log's CSV file: the range's punches, and every correction the query brought with them.
        in_range = [e for e in entries if first <= app.work_day(e.at) <= last or e.kind in (attendance.VOID, attendance.REDIRECT)]
        voided = {e.target for e in entries if e.kind == attendance.VOID}
        return jsonify({"from": first.isoformat(), "to": last.isoformat(), "punches": [entry_json(e, voided) for e in in_range]})

    @bp.get("/timesheet")
    @require("read")
    def timesheet():
        """Each person's work days of ``from``..``to`` (default this week so far), paired and corrected as on the pages."""
        app = application()
        today = app.today()
        first, last = date_range(today - dt.timedelta(days=today.weekday()), today)
        records = app.timesheet(first, last, person_arg())
        return jsonify({"from": first.isoformat(), "to": last.isoformat(), "days": [record_json(r) for r in records]})

    @bp.post("/punches")
    @require("write")
    def add_punch():
        """A missing punch: a person, a work day, a local time, in or out, and the reason."""
        _corrections_here()
        body = json_body(ADD_FIELDS, ADD_FIELDS)
        employee_id = identifier(body["employee_id"], "employee_id")
        day = date(body["day"], "day")
        try:
            at = dt.time.fromisoformat(text(body["time"], "time"))
        except ValueError:
            raise bad("time", "'time' must be a local time such as 08:30 or 17:05:30 (HH:MM or HH:MM:SS).") from None
        if at.tzinfo is not None:
            raise bad("time", "'time' is the kiosk's local time, without an offset, such as 08:30.")
        direction = body["direction"]
        if direction not in (attendance.IN, attendance.OUT):
            raise bad("direction", '\'direction\' must be "in" or "out".')
        note = _note(body)
        app = application()
        app.employee(employee_id)  # 404 for nobody, before the write
        entry = app.add_punch(employee_id, day, at, direction, author=_author(), note=note)
        log.info("api token %s added punch %d (%s, employee %d)", token().name, entry.id, direction, employee_id)
        return jsonify(entry_json(entry, set())), 201

    @bp.post("/punches/<int:entry_id>/void")
    @require("write")
    def void(entry_id):
        """Void a punch (it stays in the log, no longer counting), with the reason."""
        _corrections_here()
        entry_id = identifier(entry_id, "entry_id", "a punch's id")
        body = json_body(VOID_FIELDS, {"note"})
        wrong_person = flag(body.get("wrong_person", False), "wrong_person")
        note = _note(body)
        try:
            entry = application().correct(entry_id, attendance.VOID, author=_author(), note=note, wrong_person=wrong_person)
        except ValueError as exc:
            # A void or a redirect cannot be voided: say which entries can be.
            raise ApiError(409, "not_a_punch", f"{exc}: only punches (kind punch or added) can be voided.", "entry_id") from None
        log.info("api token %s voided punch %d (correction %d)", token().name, entry_id, entry.id)
        return jsonify(entry_json(entry, set())), 201
