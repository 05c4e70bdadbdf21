"""/metrics: the kiosk's Prometheus metrics (``kiosk.metrics``), for the
Prometheus server(s) of ``[metrics] scrape_from`` and for this machine only.

Nothing here names anyone, but the figures still say when the door is used,
so everyone else gets a plain 404, as if there were no such page. A client
is judged as the rest of the pages judge it: behind a proxy listed in
``web.trusted_proxies`` by the address the proxy names, otherwise by the
address that connected, and loopback only when no proxy passed it on."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request

from kiosk.addresses import within
from kiosk.web.services import services
from kiosk.web.viewers import local_display

bp = Blueprint("metrics_page", __name__)


def may_scrape() -> bool:
    """This machine, or a network in ``[metrics] scrape_from``."""
    networks = current_app.config["KIOSK_CONFIG"].metrics.scrape_networks
    return local_display() or within(request.remote_addr or "", networks)


@bp.get("/metrics")
def metrics():
    found = services().metrics
    if found is None or not current_app.config["KIOSK_CONFIG"].metrics.enabled or not may_scrape():
        abort(404)
    body, content_type = found.exposition()
    # A scrape every 15 s must not fill the log: nothing is logged here, and werkzeug's
    # access log is at WARNING (kiosk.logs); waitress keeps none.
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
