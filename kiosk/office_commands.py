"""The office's commands, ``kiosk export`` and ``kiosk staff import|export``:
their arguments and what they do with the application the command line
(:mod:`kiosk.cli`) builds, which keeps the command line itself short."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from kiosk.csv_cells import csv_text
from kiosk.payroll import FORMATS
from kiosk.staff_file import StaffFileError


def day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-11-23") from None


def add_parsers(sub, common: argparse.ArgumentParser, export_command, staff_command) -> None:
    """``kiosk export`` and ``kiosk staff ...`` on the command line's subparsers."""
    p = sub.add_parser("export", help="the timesheet as a payroll file (BambooHR, Gusto or per day)")
    p.add_argument("--format", required=True, choices=list(FORMATS))
    p.add_argument("--from", dest="first", required=True, type=day, metavar="YYYY-MM-DD", help="first work day")
    p.add_argument("--to", required=True, type=day, metavar="YYYY-MM-DD", help="last work day (inclusive)")
    p.add_argument("--output", metavar="FILE", help="write here (default: standard output)")
    p.set_defaults(func=export_command)
    staff = sub.add_parser("staff", help="the staff as a CSV file").add_subparsers(dest="staff_command", required=True)
    staff.add_parser("import", parents=[common], help="add or update people from a CSV file").add_argument("file")
    staff.add_parser("export", parents=[common], help="write the staff as a CSV file").add_argument("file", nargs="?")
    for p in staff.choices.values():
        p.set_defaults(func=staff_command)


def export(app, args, overtime_after_hours: float) -> int:
    if args.to < args.first:
        raise ValueError(f"--to {args.to} is before --from {args.first}; give the period's first day, then its last")
    result = app.staff.payroll(args.format, args.first, args.to, overtime_after_hours)
    deliver(csv_text(result.header, result.rows), args.output)
    for warning in result.warnings:  # printed, not logged: they name people
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def staff(app, args) -> int:
    if args.staff_command == "export":
        deliver(app.staff.export_file(), args.file)
        return 0
    try:
        text = Path(args.file).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{args.file}: not UTF-8 text; save it from the spreadsheet as 'CSV UTF-8'") from None
    try:
        print(app.staff.import_file(text, args.file).summary())
    except StaffFileError as exc:  # printed, not logged: the problems name people
        print(exc, file=sys.stderr)
        return 1
    return 0


def deliver(text: str, output: str | None) -> None:
    """A CSV file to ``output``, or to standard output (without the byte-order mark) when none is given."""
    if output:
        Path(output).write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text.lstrip("\ufeff"))
