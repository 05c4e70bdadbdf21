"""The Flask app served by the kiosk process: the full-screen kiosk page and
the JSON status API. Collaborators arrive through ``services``; nothing here
creates hardware or models."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from kiosk.config import Config


@dataclass
class Services:
    status: object  # kiosk.daemon.Status
    store_path: str


def create_app(config: Config, services: Services, test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(KIOSK_CONFIG=config, SERVICES=services)
    if test_config:
        app.config.update(test_config)
    from kiosk.web import api, screen

    app.register_blueprint(screen.bp)
    app.register_blueprint(api.bp)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
        return response

    return app
