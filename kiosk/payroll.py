"""Payroll exports: the timesheet's hours as files payroll and HR systems
import as they are. Pure functions over :class:`kiosk.attendance.DayRecord`
and the people's payroll details, tested on hand-made inputs.

- **bamboohr**: BambooHR's time-tracking import, one row per person and
  worked day: ``employeeNumber, dateWorked, rateType, hoursWorked``.
- **gusto**: Gusto's hours upload, one row per person for the pay period:
  ``first_name, last_name, regular_hours, overtime_hours``; the hours of a
  week (Monday to Sunday, as the timesheet's weeks) beyond
  ``[payroll] overtime_after_hours`` are overtime.
- **generic**: one row per person and worked day with the employee number,
  name, date, start, end, break and hours, which Xero-style importers take.

Hours are decimal with two places, rounded half up from the seconds worked.
Days with an IN and no OUT count nothing on the timesheet, and nothing here:
each is listed in the export's warnings so it can be corrected first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from kiosk.attendance import DayRecord, elapsed
from kiosk.staff_file import Person

HUNDREDTH = Decimal("0.01")
BAMBOOHR_COLUMNS = ["employeeNumber", "dateWorked", "rateType", "hoursWorked"]
# The column titles of Gusto's own CSV template for a regular payroll (support.gusto.com, "Upload payroll data with a CSV").
GUSTO_COLUMNS = ["first_name", "last_name", "regular_hours", "overtime_hours"]
GENERIC_COLUMNS = ["employee_number", "name", "date", "start", "end", "break_minutes", "hours"]


@dataclass(frozen=True)
class Export:
    """One payroll file: its columns, its rows, and what the person importing it should check first."""

    header: list[str]
    rows: list[list]
    warnings: list[str]


def hours(worked: dt.timedelta) -> Decimal:
    """Time as decimal hours with two places (half up: 7 h 30 min 18 s is 7.51)."""
    seconds = Decimal(worked.days * 86400 + worked.seconds) + Decimal(worked.microseconds) / 1_000_000
    return (seconds / 3600).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def monday(day: dt.date) -> dt.date:
    """The first day of the timesheet's week that ``day`` is in."""
    return day - dt.timedelta(days=day.weekday())


def worked_days(records: list[DayRecord]) -> list[DayRecord]:
    """The days that count time, by person then day."""
    return sorted((r for r in records if r.worked > dt.timedelta()), key=lambda r: (r.employee_id, r.day))


def warnings(records: list[DayRecord], people: dict[int, Person], needs_number: bool = True) -> list[str]:
    """Days the export cannot pay in full (an IN without its OUT, or an OUT without its IN), and,
    when the format needs them, the people paid who have no employee number."""
    found = []
    for r in sorted(records, key=lambda r: (r.day, r.employee_id)):
        if not r.complete:
            who = _person(people, r.employee_id).name
            found.append(f"{who} on {r.day}: an IN or OUT is missing, so part of the day counts nothing; correct it first")
    if not needs_number:
        return found
    paid = {r.employee_id for r in worked_days(records)}
    missing = sorted(_person(people, i).name for i in paid if not _person(people, i).employee_number)
    found += [f"{name} has no employee number; set one on their staff page" for name in missing]
    return found


def _person(people: dict[int, Person], employee_id: int) -> Person:
    # Someone removed since keeps their hours; their details went with them.
    return people.get(employee_id) or Person(employee_id, f"#{employee_id}")


def bamboohr(records: list[DayRecord], people: dict[int, Person]) -> list[list]:
    """BambooHR time tracking: every hour regular ("REG"); BambooHR applies its own overtime rules."""
    return [
        [_person(people, r.employee_id).employee_number or "", r.day.isoformat(), "REG", str(hours(r.worked))]
        for r in worked_days(records)
    ]


def split_week(records: list[DayRecord], limit: dt.timedelta) -> dict[int, tuple[dt.timedelta, dt.timedelta]]:
    """Regular and overtime per person: each week's time beyond ``limit`` is overtime. A week the range
    cuts counts only its days inside the range (export whole weeks for a weekly rule over whole weeks)."""
    weeks: dict[tuple[int, dt.date], dt.timedelta] = {}
    for r in records:
        key = (r.employee_id, monday(r.day))
        weeks[key] = weeks.get(key, dt.timedelta()) + r.worked
    split: dict[int, tuple[dt.timedelta, dt.timedelta]] = {}
    for (person, _), worked in weeks.items():
        regular, overtime = split.get(person, (dt.timedelta(), dt.timedelta()))
        extra = max(worked - limit, dt.timedelta())
        split[person] = (regular + worked - extra, overtime + extra)
    return split


def gusto(records: list[DayRecord], people: dict[int, Person], overtime_after_hours: float) -> list[list]:
    """Gusto: one row per person for the period, sorted by last then first name. The regular hours are
    the total less the overtime, both rounded from seconds, so the two add up to the timesheet's total."""
    split = split_week(worked_days(records), dt.timedelta(hours=overtime_after_hours))
    rows = []
    for employee_id, (regular, overtime) in split.items():
        person = _person(people, employee_id)
        total, extra = hours(regular + overtime), hours(overtime)
        rows.append([person.first, person.last, str(total - extra), str(extra)])
    return sorted(rows, key=lambda row: (row[1].casefold(), row[0].casefold()))


def generic(records: list[DayRecord], people: dict[int, Person], zone: dt.tzinfo) -> list[list]:
    """Per person and day: the first IN, the last OUT, the minutes between them not worked, and the hours."""

    def hm(at: dt.datetime | None) -> str:
        return at.astimezone(zone).strftime("%H:%M") if at else ""

    rows = []
    for r in worked_days(records):
        person = _person(people, r.employee_id)
        start, end = r.first_in, r.last_out
        gap = (
            "" if start is None or end is None or not r.complete else round((elapsed(start, end) - r.worked).total_seconds() / 60)
        )
        rows.append([person.employee_number or "", person.name, r.day.isoformat(), hm(start), hm(end), gap, str(hours(r.worked))])
    return rows


FORMATS: dict[str, tuple[list[str], Callable]] = {
    "bamboohr": (BAMBOOHR_COLUMNS, lambda records, people, zone, limit: bamboohr(records, people)),
    "gusto": (GUSTO_COLUMNS, lambda records, people, zone, limit: gusto(records, people, limit)),
    "generic": (GENERIC_COLUMNS, lambda records, people, zone, limit: generic(records, people, zone)),
}


def export(
    kind: str, records: list[DayRecord], people: dict[int, Person], zone: dt.tzinfo, overtime_after_hours: float
) -> Export:
    """The file of format ``kind`` (a key of :data:`FORMATS`) for these day records."""
    if kind not in FORMATS:
        raise ValueError(f"unknown payroll format {kind!r}: use one of {', '.join(FORMATS)}")
    header, make = FORMATS[kind]
    rows = make(records, people, zone, overtime_after_hours)
    return Export(header, rows, warnings(records, people, needs_number=kind != "gusto"))
