"""Who is looking: the kiosk's own display, a logged-in admin, or anyone else.

Names and the camera picture go only to the kiosk's own display (a browser on
this machine, reached over loopback with no proxy in between) or to a
logged-in admin; everyone else sees the state without names. Behind a
reverse proxy listed in ``web.trusted_proxies``, the client the proxy names
is who is looking (werkzeug's ProxyFix); forwarding headers from anyone else
change nothing. Open event and preview streams are capped (see :class:`StreamSlots`)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

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
    """Open event and preview streams, each holding a server thread until it
    ends: at most ``public`` for anyone, of which at most ``per_client`` from
    one address, and ``reserved`` more that only the kiosk's own display and
    logged-in admins may use, so a crowd elsewhere never blanks the door's
    screen. ``acquire`` fails fast when full, or returns the slot's release."""

    def __init__(self, public: int, reserved: int = 0, per_client: int | None = None):
        self.public, self.reserved, self.per_client = public, reserved, per_client or public
        self._lock = threading.Lock()
        self._public_open = self._reserved_open = 0
        self._by_client: Counter[str] = Counter()

    def acquire(self, client: str = "", trusted: bool = False) -> Callable[[], None] | None:
        with self._lock:
            if trusted and self._reserved_open < self.reserved:
                self._reserved_open += 1
                return self._release_once(reserved=True)
            if self._public_open >= self.public or (not trusted and self._by_client[client] >= self.per_client):
                return None
            self._public_open += 1
            if not trusted:
                self._by_client[client] += 1
            return self._release_once(client=None if trusted else client)

    def _release_once(self, reserved: bool = False, client: str | None = None) -> Callable[[], None]:
        done = threading.Event()

        def release() -> None:
            with self._lock:
                if done.is_set():
                    return
                done.set()
                if reserved:
                    self._reserved_open -= 1
                    return
                self._public_open -= 1
                if client is not None:
                    self._by_client[client] -= 1
                    if not self._by_client[client]:
                        del self._by_client[client]

        return release


def slots() -> StreamSlots:
    return current_app.extensions["stream_slots"]
