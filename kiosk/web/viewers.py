"""Who is looking: the kiosk's own display, a logged-in admin, or anyone else.

Names and the camera picture go only to the kiosk's own display (a browser on
this machine, reached over loopback with no proxy in between) or to a
logged-in admin; everyone else sees the state without names. Open event and
preview streams are capped, each holding a thread."""

from __future__ import annotations

import ipaddress
import threading

from flask import current_app, request

from kiosk.web import auth


def local_display() -> bool:
    """A browser on this machine, not a request a proxy passed on from the network."""
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


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
