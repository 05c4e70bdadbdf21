"""The payroll files on the timesheet page: the range's hours as BambooHR,
Gusto or per-day CSV files that import as they are (the rules are in
:mod:`kiosk.payroll`)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, current_app, request

from kiosk.csv_cells import csv_text
from kiosk.payroll import FORMATS
from kiosk.web.auth import login_required
from kiosk.web.services import application


def add_routes(bp: Blueprint, date_range: Callable) -> None:
    """``GET /admin/payroll.csv?format=...&from=...&to=...`` on the timesheet pages' blueprint;
    ``date_range()`` reads and checks the range as the timesheet does (this week so far by default)."""

    @bp.get("/payroll.csv")
    @login_required
    def payroll_csv():
        kind = request.args.get("format", "")
        if kind not in FORMATS:
            abort(400, description=f"'format' must be one of {', '.join(FORMATS)}.")
        first, last = date_range()
        hours = current_app.config["KIOSK_CONFIG"].payroll.overtime_after_hours
        export = application().staff.payroll(kind, first, last, hours)
        return Response(
            csv_text(export.header, export.rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename={kind}-{first}-{last}.csv"},
        )
