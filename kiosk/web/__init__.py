"""The Flask app served by the kiosk process: the full-screen kiosk page, the
admin pages and the JSON status API. Collaborators arrive through
``services``; nothing here creates hardware or models."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from kiosk.config import Config
from kiosk.web import passwords

MAX_UPLOAD_BYTES = 10 * 2**20


@dataclass
class Services:
    status: object  # kiosk.daemon.Status
    store_path: str
    encoder: object = None  # kiosk.recognition.FaceEncoder, shared with the loop
    recognizer: object = None  # kiosk.recognition.Recognizer: its thresholds judge look-alikes
    capture: Callable | None = None  # latest camera frame (BGR) or None


def create_app(config: Config, services: Services, test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        KIOSK_CONFIG=config,
        SERVICES=services,
        SECRET_KEY=passwords.secret_key(config.kiosk.data_dir),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=config.web.session_minutes),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # the session lifetime bounds it
    )
    if test_config:
        app.config.update(test_config)
    CSRFProtect(app)
    app.extensions["pending_enrollments"] = {}
    from kiosk.web import admin, api, auth, db, screen

    app.extensions["login_attempts"] = auth._Attempts()
    db.init_app(app)
    app.register_blueprint(screen.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("error.html", title="Form expired", message="The form was too old or not sent by this site. Go back, reload the page and try again."), 400

    @app.errorhandler(413)
    def too_large(error):
        return render_template("error.html", title="File too large", message=f"Photos must be smaller than {MAX_UPLOAD_BYTES // 2**20} MB."), 413

    @app.errorhandler(404)
    def not_found(error):
        return render_template("error.html", title="Not found", message=getattr(error, "description", "Not found.")), 404

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
        return response

    return app
