"""The staff as a CSV file, both ways: the rules that read one (every problem
found, per line and column, before anything is changed), match its rows with
the people already enrolled, and write the staff out again. Pure functions;
:mod:`kiosk.staff_records` applies a file in one transaction.

The columns: ``name`` (required), then optionally ``employee_number``,
``expected_start`` (HH:MM), ``first_name`` and ``last_name``. A row updates
the person with its employee number, or else the one person of its name, and
adds a new person (with no photo yet) when there is neither. A column left out
of the file changes nothing; an empty cell in a column that is there clears
that detail. A cell an export guarded against spreadsheet formulas (a quote
before "=", "+", "-" or "@") is read without the quote, so an exported file
imports as it was.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from kiosk.csv_cells import FORMULA_STARTS
from kiosk.names import InvalidName, clean_name, clean_time

COLUMNS = ["name", "employee_number", "expected_start", "first_name", "last_name"]
DETAILS = COLUMNS[1:]
MAX_ROWS = 5000
# Letters, digits and . _ / - as payroll systems number people; never a formula's first character.
NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")


def split_name(name: str) -> tuple[str, str]:
    """A display name as first and last name: the last word is the last name
    ("Mary Ann Smith": "Mary Ann", "Smith"); a single word is a first name."""
    words = name.split()
    if len(words) < 2:
        return name.strip(), ""
    return " ".join(words[:-1]), words[-1]


@dataclass(frozen=True)
class Person:
    """A person's details as payroll and the staff file see them."""

    id: int
    name: str
    employee_number: str | None = None
    first_name: str | None = None  # None: split from ``name``
    last_name: str | None = None
    expected_start: str | None = None  # HH:MM
    has_photo: bool = True  # False: added by a staff file, not recognised until a photo is added

    @property
    def first(self) -> str:
        """The first name for payroll: as set, or else split from the display name."""
        return self.first_name or split_name(self.name)[0]

    @property
    def last(self) -> str:
        """The last name for payroll: as set, or else the display name's last word."""
        return self.last_name or split_name(self.name)[1]


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    message: str  # what is wrong and how to fix it


class StaffFileError(ValueError):
    """Everything wrong with a staff file; nothing of it was applied."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source, self.problems = source, problems
        super().__init__(
            f"{source}: nothing was imported; fix these and import the file again:\n"
            + "\n".join(f"{source}, line {p.line}, column {p.column}: {p.message}" for p in problems)
        )


@dataclass(frozen=True)
class StaffRow:
    """One row of a staff file, checked: ``details`` holds the optional columns the file has."""

    line: int
    name: str
    details: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """What one row does: add a person (``employee_id`` None) or update one (``name`` and ``details`` to set)."""

    line: int
    employee_id: int | None
    name: str
    details: dict[str, str | None]
    changed: bool = True


def clean_number(raw: str | None) -> str | None:
    """An employee number as stored (None when empty), or ValueError saying what is allowed."""
    text = (raw or "").strip()
    if not text:
        return None
    if not NUMBER.fullmatch(text):
        raise ValueError(
            f"{text[:50]!r} is not an employee number: use up to 40 letters, digits, '.', '_', '/' or '-', "
            "starting with a letter or digit"
        )
    return text


def clean_part(raw: str | None, what: str) -> str | None:
    """A first or last name as stored (None when empty), or InvalidName."""
    if not (raw or "").strip():
        return None
    try:
        return clean_name(raw)
    except InvalidName as exc:
        raise InvalidName(f"{what}: {exc}") from None


def _header(cells: list[str], problems: list[Problem]) -> list[str]:
    columns = [c.strip().lstrip("\ufeff").lower().replace(" ", "_") for c in cells]
    for i, column in enumerate(columns):
        if column not in COLUMNS:
            problems.append(Problem(1, cells[i][:40] or f"#{i + 1}", f"unknown column; the columns are {', '.join(COLUMNS)}"))
        elif column in columns[:i]:
            problems.append(Problem(1, column, "this column is in the header twice; keep one"))
    if "name" not in columns:
        problems.append(
            Problem(1, "name", f"the header has no 'name' column; the first line names the columns: {', '.join(COLUMNS)}")
        )
    return columns


def _row(line: int, columns: list[str], cells: list[str], problems: list[Problem]) -> StaffRow | None:
    if len(cells) > len(columns):
        problems.append(Problem(line, f"#{len(columns) + 1}", "more cells than the header has columns; quote cells with commas"))
        return None
    values = dict(zip(columns, [_unguarded(c) for c in cells] + [""] * (len(columns) - len(cells)), strict=True))
    before = len(problems)
    name = ""
    try:
        name = clean_name(values["name"])
    except InvalidName as exc:
        problems.append(Problem(line, "name", str(exc)))
    details: dict[str, str | None] = {}
    checks = {
        "employee_number": clean_number,
        "expected_start": lambda v: _time(v),
        "first_name": lambda v: clean_part(v, "first name"),
        "last_name": lambda v: clean_part(v, "last name"),
    }
    for column in DETAILS:
        if column in values:
            try:
                details[column] = checks[column](values[column])
            except ValueError as exc:
                problems.append(Problem(line, column, str(exc)))
    return StaffRow(line, name, details) if len(problems) == before else None


def _unguarded(cell: str) -> str:
    """A cell as it was before an export's formula guard (kiosk.csv_cells), so an exported file imports as it was."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_STARTS else cell


def _time(raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    try:
        return clean_time(text)
    except ValueError:
        raise ValueError(f"{text[:20]!r} is not a time: use HH:MM such as 08:30, or leave it empty for the default") from None


def parse(text: str, source: str = "staff file") -> list[StaffRow]:
    """Every row of a staff file, or :class:`StaffFileError` listing every problem in it."""
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows: list[StaffRow] = []
    columns: list[str] | None = None
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if columns is None:
                columns = _header(cells, problems)
                if problems:
                    break
                continue
            if len(rows) >= MAX_ROWS:
                problems.append(Problem(reader.line_num, "name", f"at most {MAX_ROWS} people at once; split the file"))
                break
            row = _row(reader.line_num, columns, cells, problems)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        problems.append(Problem(reader.line_num, "-", f"not readable as CSV ({exc}); save it from a spreadsheet as CSV"))
    if columns is None and not problems:
        problems.append(Problem(1, "name", f"the file is empty; its first line names the columns: {', '.join(COLUMNS)}"))
    if problems:
        raise StaffFileError(source, problems)
    return rows


def plan(rows: list[StaffRow], people: list[Person], source: str = "staff file") -> list[Change]:
    """What each row does to the people enrolled, or :class:`StaffFileError` when rows clash with each other or with them."""
    by_number = {p.employee_number: p for p in people if p.employee_number}
    by_name: dict[str, list[Person]] = {}
    for p in people:
        by_name.setdefault(p.name.casefold(), []).append(p)
    problems: list[Problem] = []
    numbers: dict[str, int] = {}
    targets: dict[int, int] = {}
    added: dict[str, int] = {}
    changes = []
    for row in rows:
        number = row.details.get("employee_number")
        target = by_number.get(number) if number else None
        if target is None:
            same = by_name.get(row.name.casefold(), [])
            if len(same) > 1:
                problems.append(
                    Problem(row.line, "employee_number", f"{len(same)} people are named {row.name}; give their employee number")
                )
                continue
            target = same[0] if same else None
            if target is not None and number and target.employee_number:
                problems.append(
                    Problem(
                        row.line,
                        "employee_number",
                        f"{row.name} already has employee number {target.employee_number}; use it, or change it on their page",
                    )
                )
                continue
        if number and number in numbers:
            problems.append(Problem(row.line, "employee_number", f"also on line {numbers[number]}; each number is one person's"))
        elif number:
            numbers[number] = row.line
        if target is not None and target.id in targets:
            problems.append(Problem(row.line, "name", f"the same person as line {targets[target.id]}; keep one of the two rows"))
        elif target is not None:
            targets[target.id] = row.line
        elif row.name.casefold() in added:
            problems.append(
                Problem(row.line, "name", f"also added on line {added[row.name.casefold()]}; keep one of the two rows")
            )
        else:
            added[row.name.casefold()] = row.line
        changes.append(_change(row, target))
    if problems:
        raise StaffFileError(source, sorted(problems, key=lambda p: p.line))
    return changes


def _change(row: StaffRow, target: Person | None) -> Change:
    if target is None:
        return Change(row.line, None, row.name, row.details)
    now = {c: getattr(target, c) for c in DETAILS}
    changed = row.name != target.name or any(now[c] != v for c, v in row.details.items())
    return Change(row.line, target.id, row.name, row.details, changed)


def export_rows(people: list[Person]) -> list[list]:
    """The staff as rows of :data:`COLUMNS`: importing them again changes nothing."""
    return [[p.name, p.employee_number or "", p.expected_start or "", p.first_name or "", p.last_name or ""] for p in people]
