"""What the pages work with, handed in by the composition root, and the
accessors a request uses to reach it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from kiosk.application import Application
from kiosk.status import Status

if TYPE_CHECKING:  # prometheus_client is imported only where metrics are enabled
    from kiosk.metrics import KioskMetrics


@dataclass
class Services:
    """What the pages work with, made by the composition root."""

    status: Status  # written by the loop, read here
    app: Application  # every operation the pages offer
    capture: Callable | None = None  # latest camera frame (BGR) or None
    sync: Callable | None = None  # a fleet member's sync state (kiosk.fleet.sync.SyncState.snapshot); None: standalone
    staff_managed_here: bool = True  # False at a fleet's doors: staff are managed on the fleet's admin server
    metrics: KioskMetrics | None = None  # what /metrics serves; None: [metrics] enabled = false


def services() -> Services:
    """The current app's services (inside a request)."""
    return current_app.config["SERVICES"]


def application() -> Application:
    """The current app's operations (inside a request)."""
    return current_app.config["SERVICES"].app


def staff_here() -> None:
    """At a fleet's door, staff (payroll details and staff files too) are managed on the fleet's admin
    server: refused before anything is asked of the fleet database, with the page every refusal shows."""
    if not services().staff_managed_here:
        from kiosk.fleet.central import NotAllowed

        raise NotAllowed("this kiosk is one door of a fleet: staff are managed on the fleet's admin server")
