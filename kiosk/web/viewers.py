"""Who is looking: the kiosk's own display, a logged-in admin, or anyone else.

Names and the camera picture go only to the kiosk's own display (a browser on
this machine, reached over loopback with no proxy in between) or to a
logged-in admin; everyone else sees the state without names. Behind a
reverse proxy listed in ``web.trusted_proxies``, the client the proxy names
is who is looking (werkzeug's ProxyFix); forwarding headers from anyone else
change nothing. Open event and preview streams are capped, each holding a thread."""

from __future__ import annotations

import threading

from flask import current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from kiosk.addresses import Network, is_loopback, within
from kiosk.web import auth

FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


class TrustedProxyFix:
    """ProxyFix (one proxy: the last X-Forwarded-For, -Proto and -Host) for
    requests that come from a trusted proxy; every other request keeps the
    address that connected, whatever headers it sends."""

    def __init__(self, app, proxies: list[Network]):
        self.app, self.proxies = app, proxies
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def __call__(self, environ, start_response):
        if within(environ.get("REMOTE_ADDR", ""), self.proxies):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def local_display() -> bool:
    """A browser on this machine, not a request a proxy passed on from the network."""
    if any(request.headers.get(name) for name in FORWARDING_HEADERS):
        return False
    return is_loopback(request.remote_addr or "")


def trusted() -> bool:
    return local_display() or auth.logged_in()


class StreamSlots:
    """At most ``limit`` open streams; ``acquire`` fails fast when full."""

    def __init__(self, limit: int):
        self._slots = threading.BoundedSemaphore(limit)

    def acquire(self) -> bool:
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        self._slots.release()


def slots() -> StreamSlots:
    return current_app.extensions["stream_slots"]
