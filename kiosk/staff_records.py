"""Staff records beside the faces: each person's payroll details (employee
number, first and last name), the staff file's import and export, and the
payroll exports of the timesheet. The :class:`kiosk.application.Application`
exposes one as ``app.staff``; the rules are in :mod:`kiosk.staff_file` and
:mod:`kiosk.payroll`.

A person imported from a staff file has no reference photo: they are on the
staff page ("photo needed") and the timesheet, never in the gallery, so the
kiosk cannot recognise them until a photo is added on their page.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from kiosk import payroll, staff_file
from kiosk.attendance import DayRecord
from kiosk.csv_cells import csv_text
from kiosk.staff_file import Change, Person, clean_number, clean_part
from kiosk.store import UnknownEmployee

log = logging.getLogger(__name__)
_PEOPLE = (
    "SELECT e.id, e.name, e.employee_number, e.first_name, e.last_name, e.expected_start, r.employee_id IS NOT NULL "
    "FROM employees e LEFT JOIN reference_faces r ON r.employee_id = e.id"
)


@dataclass(frozen=True)
class Imported:
    """What a staff file did: the people it added (by id), and how many it updated or left as they were."""

    added: list[int]
    updated: int
    unchanged: int

    def summary(self) -> str:
        return f"{len(self.added)} added, {self.updated} updated, {self.unchanged} unchanged"


class StaffRecords:
    """People's payroll details in a store (a kiosk's own, or a fleet member's, whose changes go
    to the fleet database first, in one transaction, and are pulled back: it has ``apply_staff``;
    its reads and exports are its local replica's). ``timesheet(first, last)`` gives the day
    records the payroll exports are made of, in ``zone``."""

    def __init__(self, store, timesheet: Callable[[dt.date, dt.date], list[DayRecord]], zone: dt.tzinfo):
        self.store, self.timesheet, self.zone = store, timesheet, zone

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def people(self, include_removed: bool = False) -> list[Person]:
        """Everyone active (with ``include_removed``, those removed too: their hours are still paid)."""
        where = "" if include_removed else " WHERE e.active = 1"
        return [Person(*row[:6], has_photo=bool(row[6])) for row in self.db.execute(_PEOPLE + where + " ORDER BY e.name, e.id")]

    def person(self, employee_id: int) -> Person:
        row = self.db.execute(_PEOPLE + " WHERE e.id = ? AND e.active = 1", (employee_id,)).fetchone()
        if row is None:
            raise UnknownEmployee(employee_id)
        return Person(*row[:6], has_photo=bool(row[6]))

    def without_photo(self) -> set[int]:
        """Active people with no reference photo (added from a staff file): the kiosk cannot recognise them yet."""
        return {p.id for p in self.people() if not p.has_photo}

    def set_details(self, employee_id: int, employee_number: str | None, first_name: str | None, last_name: str | None) -> None:
        """A person's payroll details; ValueError saying what to change (a number must be one person's)."""
        self._latest()
        person = self.person(employee_id)
        details = {
            "employee_number": clean_number(employee_number),
            "first_name": clean_part(first_name, "first name"),
            "last_name": clean_part(last_name, "last name"),
        }
        number = details["employee_number"]
        holder = next((p for p in self.people() if number and p.employee_number == number and p.id != employee_id), None)
        if holder is not None:
            raise ValueError(f"employee number {number} is already {holder.name}'s (#{holder.id}); each number is one person's")
        self._apply([Change(0, employee_id, person.name, details)])

    # -- the staff file -------------------------------------------------------------------------
    def import_file(self, text: str, source: str = "staff file") -> Imported:
        """Add or update everyone in a staff file, all or nothing: every row is checked against the
        staff first, and :class:`kiosk.staff_file.StaffFileError` lists every problem found."""
        self._latest()
        changes = staff_file.plan(staff_file.parse(text, source), self.people(), source)
        added = self._apply([c for c in changes if c.changed])
        result = Imported(
            added, sum(c.changed and c.employee_id is not None for c in changes), sum(not c.changed for c in changes)
        )
        log.info("staff file imported: %s", result.summary())
        return result

    def export_file(self) -> str:
        """Everyone active as a staff file (importing it again changes nothing)."""
        return csv_text(staff_file.COLUMNS, staff_file.export_rows(self.people()))

    def _latest(self) -> None:
        """A fleet member checks changes against the whole fleet's staff as they are now: pulled first."""
        if hasattr(self.store, "apply_staff"):
            self.store.pull_gallery()

    def _apply(self, changes: list[Change]) -> list[int]:
        """Write the changes in one transaction; returns the new people's ids."""
        if hasattr(self.store, "apply_staff"):  # a fleet member: the fleet database first
            return self.store.apply_staff(changes)
        added = []
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                for c in changes:
                    added += self._write(c)
                self.store.bump_generation()  # names the loop shows may have changed
        except sqlite3.IntegrityError:
            raise ValueError("an employee number is already another person's; each number is one person's") from None
        return added

    def _write(self, c: Change) -> list[int]:
        columns = [k for k in staff_file.DETAILS if k in c.details]  # column names from the rules' list, never from a file
        if c.employee_id is None:
            cur = self.db.execute(
                f"INSERT INTO employees (name, created, {', '.join(columns) or 'expected_start'}) "
                f"VALUES (?, ?, {', '.join('?' * max(len(columns), 1))})",
                (c.name, dt.datetime.now().astimezone().isoformat(), *([c.details[k] for k in columns] or [None])),
            )
            return [int(cur.lastrowid)]
        sets = ", ".join(f"{k} = ?" for k in ["name", *columns])
        args = (c.name, *(c.details[k] for k in columns), c.employee_id)
        if self.db.execute(f"UPDATE employees SET {sets} WHERE id = ? AND active = 1", args).rowcount == 0:
            raise UnknownEmployee(c.employee_id)
        return []

    # -- payroll -----------------------------------------------------------------------------------
    def payroll(self, kind: str, first: dt.date, last: dt.date, overtime_after_hours: float) -> payroll.Export:
        """The payroll file ``kind`` (bamboohr, gusto, generic) of work days ``first``..``last``."""
        people = {p.id: p for p in self.people(include_removed=True)}
        return payroll.export(kind, self.timesheet(first, last), people, self.zone, overtime_after_hours)
