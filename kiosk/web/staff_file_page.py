"""The staff file on the staff page: upload a CSV file that adds or updates
people (all or nothing; every problem listed by line and column), and
download the staff as one (the rules are in :mod:`kiosk.staff_file`)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, current_app, flash, redirect, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from kiosk.staff_file import StaffFileError
from kiosk.web.auth import login_required
from kiosk.web.services import application, staff_here


class StaffFileForm(FlaskForm):
    """A staff file to import: the CSV file and the CSRF token."""

    file = FileField("Staff file (CSV)", validators=[FileRequired()])


def add_routes(bp: Blueprint, staff_page: Callable) -> None:
    """The import and export on the staff pages' blueprint; ``staff_page(error=..., problems=...)``
    shows the staff page again with what is wrong with an upload."""

    @bp.post("/staff/import")
    @login_required
    def import_staff():
        staff_here()
        form = StaffFileForm()
        if not form.validate_on_submit():
            return staff_page(error="Choose a CSV file of the staff to import."), 400
        upload = form.file.data
        source = upload.filename or "staff file"
        try:
            result = application().staff.import_file(upload.read().decode("utf-8-sig"), source)
        except UnicodeDecodeError:
            return staff_page(error=f"{source}: not UTF-8 text; save it from the spreadsheet as 'CSV UTF-8'."), 422
        except StaffFileError as exc:
            return staff_page(error=f"{source}: nothing was imported; fix these and upload it again.", problems=exc.problems), 422
        except ValueError as exc:
            return staff_page(error=f"{source}: nothing was imported: {exc}"), 422
        current_app.logger.info("staff file imported: %s", result.summary())
        photos = " Add a photo for each new person on their page: until then the kiosk cannot recognise them."
        flash(f"Staff file imported: {result.summary()}." + (photos if result.added else ""))
        return redirect(url_for("staff.employees"))

    @bp.get("/staff.csv")
    @login_required
    def export_staff():
        return Response(
            application().staff.export_file(),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=staff.csv", "Cache-Control": "no-store"},
        )
