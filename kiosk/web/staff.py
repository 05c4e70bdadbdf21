"""Staff pages: enrol from a photo or the kiosk camera, look-alike checks,
rename, replace the photo, working hours, and removal (after a confirmation)."""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from kiosk.application import LooksLikeSomeone, NotThisPerson
from kiosk.enrollment import EnrollmentError, Reference
from kiosk.image_codec import encode_png
from kiosk.names import MAX_LENGTH, InvalidName, clean_name
from kiosk.store import UnknownEmployee
from kiosk.web import staff_file_page
from kiosk.web.auth import login_required
from kiosk.web.services import application, services, staff_here

bp = Blueprint("staff", __name__, url_prefix="/admin")
PENDING_SECONDS = 600
PENDING_MAX = 20  # confirmations waiting at once (each holds a photo in memory)


def _name_field():
    # The length is checked again by clean_name, with a message; this keeps huge bodies out of it.
    return StringField("Name", validators=[DataRequired(), Length(max=4 * MAX_LENGTH)])


class EnrollForm(FlaskForm):
    name = _name_field()
    photo = FileField("Photo", validators=[FileRequired()])


class CaptureForm(FlaskForm):
    name = _name_field()


class RenameForm(FlaskForm):
    name = _name_field()


class PhotoForm(FlaskForm):
    photo = FileField("New photo", validators=[FileRequired()])


class HoursForm(FlaskForm):
    expected_start = StringField(
        # \Z, not $: "$" also matches before a final newline, and "08:30\n" is no time.
        "Due at",
        validators=[Optional(), Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z", message="Use a time such as 08:30.")],
    )


class PayrollForm(FlaskForm):
    """A person's payroll details; checked again, with messages, by the application."""

    employee_number = StringField("Employee number", validators=[Optional(), Length(max=200)])
    first_name = StringField("First name", validators=[Optional(), Length(max=4 * MAX_LENGTH)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=4 * MAX_LENGTH)])


class RemoveForm(FlaskForm):
    purge = BooleanField("Also delete their attendance history")
    confirm = StringField(validators=[Optional()])


class PictureForm(FlaskForm):
    """Removing one of a person's pictures: the CSRF token is all it carries."""


class ConfirmForm(FlaskForm):
    token = StringField(validators=[DataRequired()])


def _pending() -> dict:
    pending = current_app.extensions["pending_enrollments"]
    for token in [t for t, p in pending.items() if time.monotonic() - p["at"] > PENDING_SECONDS]:
        pending.pop(token, None)
    while len(pending) >= PENDING_MAX:
        pending.pop(next(iter(pending)))
    return pending


def _enrol(name: str, ref: Reference, employee_id: int | None, force: bool = False):
    """Enrol (or give a new photo), unless the face looks like someone else: then ask first."""
    try:
        enrolled = application().enrol(name, ref, replacing=employee_id, force=force)
    except LooksLikeSomeone as exc:
        token = secrets.token_urlsafe(16)
        _pending()[token] = {"name": name, "ref": ref, "employee_id": employee_id, "at": time.monotonic()}
        return render_template(
            "confirm.html",
            name=name,
            token=token,
            similar=exc.similar,
            form=ConfirmForm(token=token),
            new_photo=url_for("staff.pending_photo", token=token),
        ), 409
    note = f" Note: {ref.note}." if ref.note else ""
    flash(f"{name} enrolled.{note}" if employee_id is None else f"New photo saved for {name}.{note}")
    current_app.logger.info("enrolled employee %d", enrolled.employee_id)
    return redirect(url_for("staff.employees"))


def _employee_or_404(employee_id: int):
    if employee_id > 2**63 - 1:  # larger than any id SQLite can hold (it would raise, not find nobody)
        abort(400, description=f"{employee_id} is not an employee's number.")
    try:
        return application().employee(employee_id)
    except UnknownEmployee:
        abort(404, description=f"No employee with id {employee_id}.")


def _staff_page(enroll=None, capture=None, error=None, problems=None):
    app = application()
    employees = app.employees()
    return render_template(
        "employees.html",
        lookalike_pairs=app.lookalike_pairs(),
        names={e.id: e.name for e in employees},
        employees=employees,
        enroll=enroll or EnrollForm(),
        capture=capture or CaptureForm(),
        can_capture=services().capture is not None,
        error=error,
        need_photo=set(app.stale_references()),
        no_photo=app.staff.without_photo(),
        staff_file=staff_file_page.StaffFileForm(),
        problems=problems or [],
    )


@bp.get("/")
@login_required
def employees():
    return _staff_page()


@bp.post("/enroll")
@login_required
def enroll():
    form = EnrollForm()
    if not form.validate_on_submit():
        return _staff_page(enroll=form, error="Give a name and choose a photo."), 400
    try:
        name = clean_name(form.name.data)
        ref = application().reference_from_photo(form.photo.data.read())
    except (EnrollmentError, InvalidName) as exc:
        return _staff_page(enroll=form, error=str(exc)), 422
    return _enrol(name, ref, None)


@bp.post("/capture")
@login_required
def capture():
    form = CaptureForm()
    frame = services().capture() if services().capture else None
    error = None
    if not form.validate_on_submit():
        error = "Give a name."
    elif frame is None:
        error = "The camera has no picture right now. Check the camera and try again."
    else:
        try:
            name = clean_name(form.name.data)
            ref = application().reference_from_frame(frame)
        except InvalidName as exc:
            error = str(exc)
        except EnrollmentError as exc:
            error = f"{exc} (ask them to stand in front of the kiosk and click Capture again)"
    if error:
        return _staff_page(capture=form, error=error), 422
    return _enrol(name, ref, None)


@bp.post("/enroll/confirm")
@login_required
def confirm():
    form = ConfirmForm()
    pending = _pending().pop(form.token.data, None) if form.validate_on_submit() else None
    if pending is None:
        flash("That enrollment expired; please upload the photo again.")
        return redirect(url_for("staff.employees"))
    return _enrol(pending["name"], pending["ref"], pending["employee_id"], force=True)


@bp.get("/pending/<token>.png")
@login_required
def pending_photo(token):
    pending = _pending().get(token) or abort(404)
    return Response(encode_png(pending["ref"].image[:, :, ::-1]), mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.get("/employees/<int:employee_id>/photo.png")
@login_required
def photo(employee_id):
    _employee_or_404(employee_id)
    try:
        ref = application().reference(employee_id)
    except UnknownEmployee:  # added from a staff file: no photo yet
        abort(404, description=f"Employee {employee_id} has no photo yet.")
    picture = ref.crop if ref.image is None else ref.image[:, :, ::-1]  # people enrolled before reference images: their crop
    return Response(encode_png(picture), mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.route("/employees/<int:employee_id>", methods=["GET"])
@login_required
def employee(employee_id):
    e = _employee_or_404(employee_id)
    person = application().staff.person(employee_id)
    return render_template(
        "employee.html",
        e=e,
        person=person,
        payroll=PayrollForm(obj=person, formdata=None),
        rename=RenameForm(name=e.name),
        photo_form=PhotoForm(),
        remove=RemoveForm(),
        hours=HoursForm(expected_start=e.expected_start or ""),
        default_start=current_app.config["KIOSK_CONFIG"].attendance.expected_start,
        needs_photo=employee_id in application().stale_references(),
        templates=application().templates_of(employee_id),
        extra=PhotoForm(),
        drop=PictureForm(),
    )


@bp.get("/templates/<int:template_id>.png")
@login_required
def template_photo(template_id):
    try:
        _, picture = application().template_picture(template_id)
    except KeyError:
        abort(404, description=f"No picture {template_id}.")
    return Response(encode_png(picture), mimetype="image/png", headers={"Cache-Control": "no-store"})


def _uploaded_reference() -> Reference | None:
    """The photo form's upload as a reference face, or None after flashing what is wrong with it."""
    form = PhotoForm()
    try:
        if not form.validate_on_submit():
            raise EnrollmentError("Choose a photo.")
        return application().reference_from_photo(form.photo.data.read())
    except EnrollmentError as exc:
        flash(str(exc))
        return None


@bp.post("/employees/<int:employee_id>/templates")
@login_required
def add_photo(employee_id):
    """Another photo of the person: it helps the kiosk recognise them, and the enrolment photo stays the reference."""
    e = _employee_or_404(employee_id)
    ref = _uploaded_reference()
    if ref is None:
        return redirect(url_for("staff.employee", employee_id=employee_id))
    try:
        application().add_photo(employee_id, ref)
    except NotThisPerson as exc:
        flash(f"Not added: {exc}")
        return redirect(url_for("staff.employee", employee_id=employee_id))
    flash(f"Photo added for {e.name}.")
    return redirect(url_for("staff.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/templates/<int:template_id>/remove")
@login_required
def remove_template(employee_id, template_id):
    _employee_or_404(employee_id)
    if not PictureForm().validate_on_submit():
        abort(400)
    try:
        owner, _ = application().template_picture(template_id)
    except KeyError:
        abort(404, description=f"No picture {template_id}.")
    if owner != employee_id:
        abort(404, description=f"No picture {template_id} of employee {employee_id}.")
    application().remove_template(template_id)
    flash("Picture removed.")
    return redirect(url_for("staff.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/rename")
@login_required
def rename(employee_id):
    _employee_or_404(employee_id)
    form = RenameForm()
    if not form.validate_on_submit():
        flash("A name is required.")
    else:
        try:
            application().rename(employee_id, form.name.data)
            flash("Name saved.")
        except InvalidName as exc:
            flash(str(exc))
    return redirect(url_for("staff.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/hours")
@login_required
def hours(employee_id):
    _employee_or_404(employee_id)
    form = HoursForm()
    if not form.validate_on_submit():
        flash("; ".join(e for errors in form.errors.values() for e in errors))
    else:
        application().set_expected_start(employee_id, form.expected_start.data or None)
        flash("Working hours saved.")
    return redirect(url_for("staff.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/payroll")
@login_required
def payroll(employee_id):
    staff_here()
    _employee_or_404(employee_id)
    form = PayrollForm()
    if not form.validate_on_submit():
        flash("; ".join(e for errors in form.errors.values() for e in errors) or "Send the form again.")
        return redirect(url_for("staff.employee", employee_id=employee_id))
    try:
        application().staff.set_details(employee_id, form.employee_number.data, form.first_name.data, form.last_name.data)
        flash("Payroll details saved.")
    except ValueError as exc:
        flash(f"Not saved: {exc}.")
    return redirect(url_for("staff.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/photo")
@login_required
def reenroll(employee_id):
    e = _employee_or_404(employee_id)
    ref = _uploaded_reference()
    if ref is None:
        return redirect(url_for("staff.employee", employee_id=employee_id))
    return _enrol(e.name, ref, employee_id)


@bp.post("/employees/<int:employee_id>/remove")
@login_required
def remove(employee_id):
    """First a page that says what will happen; only its own form removes."""
    e = _employee_or_404(employee_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        abort(400)
    if form.confirm.data != "yes":
        punches = application().entry_count(employee_id)
        return render_template("remove.html", e=e, purge=form.purge.data, punches=punches, form=RemoveForm(purge=form.purge.data))
    application().remove(employee_id, purge=form.purge.data)
    flash(f"{e.name} removed." + (" Attendance history deleted." if form.purge.data else " Attendance history kept."))
    return redirect(url_for("staff.employees"))


staff_file_page.add_routes(bp, _staff_page)
