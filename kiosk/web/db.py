"""One Store per request on ``g``, closed at teardown (as in the Flask tutorial)."""

from __future__ import annotations

from flask import current_app, g

from kiosk.store import Store


def get_store() -> Store:
    if "store" not in g:
        services = current_app.config["SERVICES"]
        g.store = services.open_store() if services.open_store else Store(services.store_path)
    return g.store


def close_store(exc=None) -> None:
    store = g.pop("store", None)
    if store is not None:
        store.close()


def init_app(app) -> None:
    app.teardown_appcontext(close_store)
