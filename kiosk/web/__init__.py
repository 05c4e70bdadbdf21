"""The Flask app served by the kiosk process: the full-screen kiosk page, the
admin pages (staff, timesheets, status) and the JSON status API.
Collaborators arrive through ``services``; nothing here creates hardware or models."""

from __future__ import annotations

import datetime as dt

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from kiosk.config import Config
from kiosk.web import passwords
from kiosk.web.services import Services

MAX_UPLOAD_BYTES = 10 * 2**20


def create_app(config: Config, services: Services, test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        KIOSK_CONFIG=config,
        SERVICES=services,
        SECRET_KEY=passwords.secret_key(config.kiosk.data_dir),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=config.web.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=False,  # a session ends session_minutes after login, however busy
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.web.tls_cert is not None,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # the session lifetime bounds it
    )
    if test_config:
        app.config.update(test_config)
    if config.web.trusted_proxies:
        from kiosk.web.viewers import TrustedProxyFix

        app.wsgi_app = TrustedProxyFix(app.wsgi_app, config.web.proxy_networks)
    csrf = CSRFProtect(app)
    from kiosk.web import api, auth, metrics_page, screen, staff, status_page, timesheets
    from kiosk.web.viewers import StreamSlots

    app.extensions["pending_enrollments"] = {}
    app.extensions["login_attempts"] = auth.Attempts()
    web = config.web
    app.extensions["stream_slots"] = StreamSlots(web.max_event_streams, web.reserved_streams, web.streams_per_client)
    # Each request thread's database connection closes with the request.
    app.teardown_appcontext(lambda exc=None: services.app.store.release())
    for blueprint in (screen.bp, api.bp, auth.bp, staff.bp, timesheets.bp, status_page.bp):
        app.register_blueprint(blueprint)
    if config.api.enabled:
        from kiosk.web import rest_api, tokens_page

        rest_api.register(app, csrf)  # bearer tokens only, so exempt from the pages' CSRF tokens
        app.register_blueprint(tokens_page.bp)
    if config.metrics.enabled:
        # Prometheus sends no session and no form token (and /metrics is GET only anyway).
        csrf.exempt(metrics_page.bp)
        app.register_blueprint(metrics_page.bp)
    _filters(app, config)

    @app.context_processor
    def admin_state():
        return {
            "admin_logged_in": auth.logged_in,
            "staff_managed_here": services.staff_managed_here,
            "fleet_member": services.sync is not None,
            "api_enabled": config.api.enabled,
        }

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template(
            "error.html",
            title="Form expired",
            message="The form was too old or not sent by this site. Go back, reload the page and try again.",
        ), 400

    @app.errorhandler(400)
    def bad_request(error):
        return render_template("error.html", title="Bad request", message=getattr(error, "description", "Bad request.")), 400

    @app.errorhandler(403)
    def forbidden(error):
        return render_template("error.html", title="Not here", message=getattr(error, "description", "Not allowed.")), 403

    @app.errorhandler(413)
    def too_large(error):
        return render_template(
            "error.html", title="File too large", message=f"Photos must be smaller than {MAX_UPLOAD_BYTES // 2**20} MB."
        ), 413

    @app.errorhandler(404)
    def not_found(error):
        if config.api.enabled and request.path.startswith("/api/v1/"):
            # A program asking for a path the API does not have gets JSON, as from the API's routes.
            return jsonify(error="not_found", message="No such path; the paths are in /api/v1/openapi.json."), 404
        return render_template("error.html", title="Not found", message=getattr(error, "description", "Not found.")), 404

    from kiosk.fleet.central import CentralError, NotAllowed

    @app.errorhandler(NotAllowed)
    def not_allowed(error):
        return render_template(
            "error.html",
            title="Managed elsewhere",
            message="This kiosk belongs to a fleet: staff are "
            "added, changed and removed on the fleet's admin server, and reach every door from there.",
        ), 403

    @app.errorhandler(CentralError)
    def central_down(error):
        return render_template(
            "error.html",
            title="Fleet database unavailable",
            message="The fleet database cannot be "
            "reached, and staff changes need it. Nothing was changed; try again when it is back (the "
            "status page shows the connection).",
        ), 503

    @app.errorhandler(passwords.PasswordFileError)
    def password_file_unreadable(error):
        current_app.logger.error("%s", error)
        return render_template("error.html", title="The login cannot be checked", message=str(error)), 503

    @app.errorhandler(503)
    def unavailable(error):
        return render_template("error.html", title="Busy", message=getattr(error, "description", "Try again shortly.")), 503

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
        if config.web.tls_cert is not None:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith("/admin") or request.path in ("/status", "/events"):
            # Names, hours and faces: neither a shared browser's cache nor a proxy may keep a copy.
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def _filters(app: Flask, config: Config) -> None:
    zone = config.attendance.zone()
    clock = "%H:%M" if config.display.time_format == "24h" else "%I:%M %p"

    @app.template_filter("clock")
    def clock_filter(at) -> str:
        """A moment as the local wall-clock time (in the configured zone and format)."""
        if not at:
            return ""
        if isinstance(at, str):
            at = dt.datetime.fromisoformat(at)
        return at.astimezone(zone).strftime(clock)

    @app.template_filter("duration")
    def duration_filter(span) -> str:
        """7:45 for seven hours and three quarters; an empty cell for nothing."""
        if span is None:
            return ""
        minutes = round(span.total_seconds() / 60)
        return f"{minutes // 60}:{minutes % 60:02d}"
