"""The REST API under /api/v1, for other systems (payroll, HR, a building's
dashboard) holding a bearer token an admin made on the API tokens page.

It offers what the admin pages offer, through the same operations of
:class:`kiosk.application.Application` (so a punch is still written one way
only): people (list, enrol from a photo with the quality gate and the
look-alike check, remove), punches and timesheets of a range, corrections
(:mod:`kiosk.web.rest_attendance`) and the kiosk's status without names.
Its description is ``openapi.json`` beside this module, served at
/api/v1/openapi.json. Every write is logged at INFO with the token's name
(people's names only at DEBUG).
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from kiosk.application import LooksLikeSomeone, UnknownEntry
from kiosk.enrollment import EnrollmentError
from kiosk.fleet.central import CentralError, NotAllowed
from kiosk.names import InvalidName, clean_name
from kiosk.store import UnknownEmployee
from kiosk.web import rest_attendance
from kiosk.web.api_auth import ApiError, bad, error_response, flag, identifier, log, require, token
from kiosk.web.services import application, services

bp = Blueprint("rest_api", __name__, url_prefix="/api/v1")
OPENAPI = Path(__file__).with_name("openapi.json")
_FLEET_DOOR = (
    "This kiosk is one door of a fleet: staff are added and removed on the fleet's admin server, "
    "and reach every door from there. Nothing was changed."
)


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    return error_response(error)


def http_error(error: HTTPException):
    # abort() and a body over the size limit: JSON here too, never the admin pages' HTML.
    message = error.description or error.name
    if error.code == 413:
        message = f"Send at most {current_app.config['MAX_CONTENT_LENGTH'] // 2**20} MB: a photo of a face needs far less."
    return error_response(ApiError(error.code or 500, error.name.lower().replace(" ", "_"), message))


# By code too: Flask prefers the app's handler of a code (the pages' HTML) to a blueprint's of HTTPException.
for _code in (400, 403, 404, 405, 413, 503):
    bp.register_error_handler(_code, http_error)
bp.register_error_handler(HTTPException, http_error)


@bp.errorhandler(UnknownEmployee)
def unknown_employee(error):
    return error_response(ApiError(404, "not_found", f"No employee with id {error.args[0]}; list them at /api/v1/people."))


@bp.errorhandler(UnknownEntry)
def unknown_entry(error):
    return error_response(ApiError(404, "not_found", f"No punch {error.args[0]}; list them at /api/v1/punches."))


@bp.errorhandler(NotAllowed)
def not_allowed(error):
    return error_response(ApiError(403, "managed_elsewhere", _FLEET_DOOR))


@bp.errorhandler(CentralError)
def central_down(error):
    return error_response(
        ApiError(
            503, "fleet_unavailable", "The fleet database cannot be reached, and staff changes need it. Nothing was changed."
        )
    )


def staff_here() -> None:
    """At a fleet's door, staff are managed on the fleet's admin server: refuse before changing anything."""
    if not services().staff_managed_here:
        raise ApiError(403, "managed_elsewhere", _FLEET_DOOR)


@bp.get("/openapi.json")
def openapi():
    """The API's description (no token needed: it holds no data)."""
    return Response(OPENAPI.read_bytes(), mimetype="application/json")


@bp.get("/status")
@require("read")
def status():
    """The kiosk's state as the network sees it: never a name or a face."""
    return jsonify(services().status.snapshot(with_people=False))


def person_json(p) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "employee_number": p.employee_number,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "expected_start": p.expected_start,
        "has_photo": p.has_photo,
    }


@bp.get("/people")
@require("read")
def people():
    return jsonify({"people": [person_json(p) for p in application().staff.people()]})


@bp.get("/people/<int:employee_id>")
@require("read")
def person(employee_id):
    return jsonify(person_json(application().staff.person(identifier(employee_id, "employee_id"))))


@bp.post("/people")
@require("write")
def enrol():
    """Enrol from a photo, sent as multipart/form-data: ``name``, ``photo`` (a JPEG or PNG file) and ``force``."""
    staff_here()
    if request.mimetype != "multipart/form-data":
        raise bad("body", "Send multipart/form-data with the fields name and photo (curl -F name=... -F photo=@face.jpg).")
    if unknown := sorted((set(request.form) | set(request.files)) - {"name", "photo", "force"}):
        raise bad(unknown[0], f"Unknown field {unknown[0]!r}; the fields are name, photo and force.")
    force = flag(request.form.get("force", "false"), "force")
    try:
        name = clean_name(request.form.get("name", ""))
    except InvalidName as exc:
        raise bad("name", str(exc)) from None
    upload = request.files.get("photo")
    if upload is None:
        raise bad("photo", "'photo' is required: a file part with a clear, frontal photo (JPEG or PNG).")
    app = application()
    try:
        ref = app.reference_from_photo(upload.read())
    except EnrollmentError as exc:
        raise ApiError(422, "photo_refused", str(exc), "photo") from None
    try:
        enrolled = app.enrol(name, ref, force=force)
    except LooksLikeSomeone as exc:
        similar = [{"id": s.employee_id, "name": s.name, "distance": round(s.distance, 4)} for s in exc.similar]
        raise ApiError(
            409,
            "looks_like_someone",
            "The kiosk would take this face for someone already enrolled. If it is a different person, "
            "send the request again with force=true; if it is the same person, give them a new photo instead.",
            "photo",
            lookalikes=similar,
        ) from None
    log.info("api token %s enrolled employee %d", token().name, enrolled.employee_id)
    log.debug("employee %d is %s", enrolled.employee_id, enrolled.name)
    body = person_json(app.staff.person(enrolled.employee_id)) | {"note": enrolled.note}
    return jsonify(body), 201, {"Location": f"/api/v1/people/{enrolled.employee_id}"}


@bp.delete("/people/<int:employee_id>")
@require("write")
def remove(employee_id):
    """Remove a person (their photo and templates); ``?purge=true`` deletes their attendance history too."""
    staff_here()
    employee_id = identifier(employee_id, "employee_id")
    purge = flag(request.args.get("purge", "false"), "purge")
    app = application()
    app.employee(employee_id)  # 404 before anything changes
    app.remove(employee_id, purge=purge)
    log.info("api token %s removed employee %d%s", token().name, employee_id, " and their history" if purge else "")
    return jsonify({"removed": employee_id, "purged": purge})


rest_attendance.add_routes(bp)


def described_paths() -> dict:
    """The paths and methods the description names (for tests and tools)."""
    return json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]


def register(app, csrf) -> None:
    """Serve the API on ``app``, exempt from the pages' CSRF tokens: it authorises by bearer token only."""
    from kiosk.api_tokens import RateLimiter

    app.extensions["api_rate_limiter"] = RateLimiter(app.config["KIOSK_CONFIG"].api.requests_per_minute)
    csrf.exempt(bp)
    app.register_blueprint(bp)

    @app.errorhandler(405)
    def method_not_allowed(error):
        # Raised while routing, before the blueprint is known: the API's paths answer JSON all the same.
        return http_error(error) if request.path.startswith(bp.url_prefix + "/") else error
