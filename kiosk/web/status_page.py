"""The admin's view of the kiosk: camera, model, thresholds, people, disk."""

from __future__ import annotations

import shutil

from flask import Blueprint, current_app, render_template

from kiosk.web.auth import login_required
from kiosk.web.db import get_store

bp = Blueprint("status_page", __name__, url_prefix="/admin")


@bp.get("/status")
@login_required
def status():
    services = current_app.config["SERVICES"]
    config = current_app.config["KIOSK_CONFIG"]
    usage = shutil.disk_usage(config.kiosk.data_dir)
    contract = services.encoder.embedder.contract if services.encoder else None
    need_photo = len(get_store().stale_references(contract.version)) if contract else 0
    return render_template("status.html", s=services.status.snapshot(with_people=True), disk_free_mb=usage.free // 2**20,
                           contract=contract, need_photo=need_photo, rules=config.recognition,
                           fleet=services.sync() if services.sync else None, site=config.fleet.site)
