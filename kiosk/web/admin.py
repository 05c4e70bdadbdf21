"""The manager's pages: staff, enrollment, attendance and status."""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
import shutil
import time

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, Length

from kiosk.enrollment import EnrollmentError, Reference, decode_photo, lookalikes, make_reference
from kiosk.store import UnknownEmployee, encode_png
from kiosk.web.auth import login_required
from kiosk.web.db import get_store

bp = Blueprint("admin", __name__, url_prefix="/admin")
PENDING_SECONDS = 600


class EnrollForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    photo = FileField("Photo", validators=[FileRequired()])


class CaptureForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])


class RenameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])


class PhotoForm(FlaskForm):
    photo = FileField("New photo", validators=[FileRequired()])


class RemoveForm(FlaskForm):
    purge = BooleanField("Also delete their attendance history")


class ConfirmForm(FlaskForm):
    token = StringField(validators=[DataRequired()])


class CorrectionForm(FlaskForm):
    employee = SelectField("Employee", coerce=int)
    day = DateField("Day", validators=[DataRequired()])
    time = TimeField("Time", validators=[DataRequired()])
    direction = SelectField("Direction", choices=[("in", "in"), ("out", "out")])
    note = StringField("Reason", validators=[DataRequired(), Length(max=300)])


def _services():
    return current_app.config["SERVICES"]


def _version() -> str:
    return _services().encoder.embedder.contract.version


def _pending() -> dict:
    pending = current_app.extensions["pending_enrollments"]
    for token in [t for t, p in pending.items() if time.monotonic() - p["at"] > PENDING_SECONDS]:
        pending.pop(token, None)
    return pending


def _finish_enrollment(name: str, ref: Reference, employee_id: int | None):
    """Enroll (or re-enroll), unless the face looks like someone else: then ask first."""
    store = get_store()
    gallery = store.gallery(_version())
    threshold = _services().recognizer.thresholds(len(gallery) + (employee_id is None)).good
    similar = lookalikes(gallery, ref.embedding, threshold, exclude=employee_id)
    if similar:
        token = secrets.token_urlsafe(16)
        _pending()[token] = {"name": name, "ref": ref, "employee_id": employee_id, "at": time.monotonic()}
        return render_template("confirm.html", name=name, token=token, similar=similar, form=ConfirmForm(token=token),
                               new_photo=url_for("admin.pending_photo", token=token)), 409
    return _save(name, ref, employee_id)


def _save(name: str, ref: Reference, employee_id: int | None):
    store = get_store()
    fields = dict(image=ref.image, face=ref.face, crop=ref.crop, embedding=ref.embedding, model_version=_version())
    if employee_id is None:
        employee_id = store.add_employee(name, **fields)
        flash(f"{name} enrolled." + (f" Note: {ref.note}." if ref.note else ""))
    else:
        store.replace_reference(employee_id, **fields)
        flash(f"New photo saved for {name}." + (f" Note: {ref.note}." if ref.note else ""))
    current_app.logger.info("enrolled employee %d", employee_id)
    return redirect(url_for("admin.employees"))


def _employee_or_404(employee_id: int):
    try:
        return get_store().get_employee(employee_id)
    except UnknownEmployee:
        abort(404, description=f"No employee with id {employee_id}.")


def _staff_page(enroll=None, capture=None, error=None):
    store = get_store()
    return render_template("employees.html", employees=store.employees(), enroll=enroll or EnrollForm(),
                           capture=capture or CaptureForm(), can_capture=_services().capture is not None, error=error,
                           need_photo=set(store.stale_references(_version())))


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
        ref = make_reference(_services().encoder, decode_photo(form.photo.data.read()))
    except EnrollmentError as exc:
        return _staff_page(enroll=form, error=str(exc)), 422
    return _finish_enrollment(form.name.data.strip(), ref, None)


@bp.post("/capture")
@login_required
def capture():
    form = CaptureForm()
    frame = _services().capture() if _services().capture else None
    error = None
    if not form.validate_on_submit():
        error = "Give a name."
    elif frame is None:
        error = "The camera has no picture right now. Check the camera and try again."
    else:
        try:
            ref = make_reference(_services().encoder, frame)
        except EnrollmentError as exc:
            error = f"{exc} (ask them to stand in front of the kiosk and click Capture again)"
    if error:
        return _staff_page(capture=form, error=error), 422
    return _finish_enrollment(form.name.data.strip(), ref, None)


@bp.post("/enroll/confirm")
@login_required
def confirm():
    form = ConfirmForm()
    pending = _pending().pop(form.token.data, None) if form.validate_on_submit() else None
    if pending is None:
        flash("That enrollment expired; please upload the photo again.")
        return redirect(url_for("admin.employees"))
    return _save(pending["name"], pending["ref"], pending["employee_id"])


@bp.get("/pending/<token>.png")
@login_required
def pending_photo(token):
    pending = _pending().get(token) or abort(404)
    return Response(encode_png(pending["ref"].image[:, :, ::-1]), mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.get("/employees/<int:employee_id>/photo.png")
@login_required
def photo(employee_id):
    _employee_or_404(employee_id)
    ref = get_store().reference(employee_id)
    picture = ref.crop if ref.image is None else ref.image[:, :, ::-1]  # people enrolled before reference images: their crop
    return Response(encode_png(picture), mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.route("/employees/<int:employee_id>", methods=["GET"])
@login_required
def employee(employee_id):
    e = _employee_or_404(employee_id)
    return render_template("employee.html", e=e, rename=RenameForm(name=e.name), photo_form=PhotoForm(), remove=RemoveForm())


@bp.post("/employees/<int:employee_id>/rename")
@login_required
def rename(employee_id):
    _employee_or_404(employee_id)
    form = RenameForm()
    if not form.validate_on_submit():
        flash("A name is required.")
    else:
        get_store().rename(employee_id, form.name.data)
        flash("Name saved.")
    return redirect(url_for("admin.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/photo")
@login_required
def reenroll(employee_id):
    e = _employee_or_404(employee_id)
    form = PhotoForm()
    try:
        if not form.validate_on_submit():
            raise EnrollmentError("Choose a photo.")
        ref = make_reference(_services().encoder, decode_photo(form.photo.data.read()))
    except EnrollmentError as exc:
        flash(str(exc))
        return redirect(url_for("admin.employee", employee_id=employee_id))
    return _finish_enrollment(e.name, ref, employee_id)


@bp.post("/employees/<int:employee_id>/remove")
@login_required
def remove(employee_id):
    e = _employee_or_404(employee_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        abort(400)
    get_store().remove_employee(employee_id, purge_attendance=form.purge.data)
    flash(f"{e.name} removed." + (" Attendance history deleted." if form.purge.data else " Attendance history kept."))
    return redirect(url_for("admin.employees"))


def _attendance_rows():
    today = dt.date.today().isoformat()
    first = request.args.get("from") or today
    last = request.args.get("to") or first
    who = request.args.get("employee", type=int)
    return first, last, who, get_store().attendance(first, last, who)


@bp.get("/attendance")
@login_required
def attendance():
    first, last, who, rows = _attendance_rows()
    form = CorrectionForm()
    form.employee.choices = [(e.id, e.name) for e in get_store().employees()]
    return render_template("attendance.html", rows=rows, first=first, last=last, who=who, form=form,
                           employees=get_store().employees())


@bp.get("/attendance.csv")
@login_required
def attendance_csv():
    first, last, _, rows = _attendance_rows()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["employee_id", "name", "day", "time", "direction", "kind", "distance", "kiosk", "author", "note"])
    for r in rows:
        writer.writerow([r["employee_id"], r["name"], r["day"], r["at"], r["direction"], r["kind"],
                         "" if r["distance"] is None else f"{r['distance']:.4f}", r["kiosk_id"], r["author"] or "", r["note"] or ""])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=attendance-{first}-{last}.csv"})


@bp.post("/attendance/correct")
@login_required
def correct():
    form = CorrectionForm()
    form.employee.choices = [(e.id, e.name) for e in get_store().employees()]
    if not form.validate_on_submit():
        flash("Choose an employee, a day, a time and give a reason.")
        return redirect(url_for("admin.attendance"))
    at = dt.datetime.combine(form.day.data, form.time.data).astimezone()
    get_store().record_punch(form.employee.data, at=at, distance=None, kiosk_id="admin", model_version=None,
                             cooldown_seconds=0, kind="correction", author="admin", note=form.note.data,
                             direction=form.direction.data)
    flash("Correction recorded.")
    return redirect(url_for("admin.attendance", **{"from": form.day.data.isoformat()}))


@bp.get("/status")
@login_required
def status():
    usage = shutil.disk_usage(current_app.config["KIOSK_CONFIG"].kiosk.data_dir)
    return render_template("status.html", s=_services().status.snapshot(with_people=True), disk_free_mb=usage.free // 2**20)
