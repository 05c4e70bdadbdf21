"""The staff records on the fleet database (fleet schema 3), beside the
adapter in :mod:`kiosk.fleet.central`: people's payroll details (employee
number, first and last name) and staff files, written by the fleet's admin
server, and everyone's details read once by a member that upgraded.

A staff file is written in one transaction under the gallery lock, every
row with a revision of its own, so every member pulls it like any other
gallery change: all of it or, if any row is refused, none of it.
"""

from __future__ import annotations

from kiosk.fleet.central import GALLERY_CHANNEL, GALLERY_LOCK, Central
from kiosk.staff_file import DETAILS, Change


def apply_staff(central: Central, changes: list[Change]) -> list[int]:
    """Add or update people with their payroll details in one transaction; returns the new people's ids.
    ValueError (nothing written) when an employee number is another active person's; KeyError (nothing
    written) when a person to update was removed meanwhile; :class:`kiosk.fleet.central.NotAllowed` at a door."""

    def write(conn):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (GALLERY_LOCK,))  # every writer of employees takes it
        return [new for c in changes for new in _write(central, conn, c)]

    return central._run(write)


def _write(central: Central, conn, c: Change) -> list[int]:
    columns = [k for k in DETAILS if k in c.details]  # column names from the rules' list, never from a file
    number = c.details.get("employee_number")
    if number:  # checked under the gallery lock, so no other writer can give it away meanwhile
        holder = conn.execute(
            "SELECT id, name FROM employees WHERE active AND employee_number = %s AND id IS DISTINCT FROM %s",
            (number, c.employee_id),
        ).fetchone()
        if holder is not None:
            raise ValueError(f"employee number {number} is already {holder[1]}'s (#{holder[0]}); each number is one person's")
    action = "payroll details" if c.line == 0 else "staff file"
    if c.employee_id is not None:
        sets = ", ".join(f"{k} = %s" for k in ["name", *columns])
        central._change_person(conn, c.employee_id, sets, (c.name, *(c.details[k] for k in columns)), action)
        return []
    employee_id = conn.execute(
        f"INSERT INTO employees (name, {''.join(k + ', ' for k in columns)}revision) "
        f"VALUES (%s, {'%s, ' * len(columns)}nextval('gallery_revision')) RETURNING id",
        (c.name, *(c.details[k] for k in columns)),
    ).fetchone()[0]
    conn.execute("INSERT INTO audit (action, employee_id) VALUES (%s, %s)", (f"{action}: add", employee_id))
    conn.execute(f"NOTIFY {GALLERY_CHANNEL}")
    return [int(employee_id)]


def payroll_details(central: Central) -> list[tuple[int, str | None, str | None, str | None]]:
    """Everyone's payroll details, removed people's too (their hours are still paid): (id, employee number,
    first name, last name), for a member whose earlier version pulled gallery changes without them."""
    query = "SELECT id, employee_number, first_name, last_name FROM employees ORDER BY id"
    return central._run(lambda conn: [tuple(row) for row in conn.execute(query).fetchall()])
