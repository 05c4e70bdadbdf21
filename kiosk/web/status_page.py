"""The admin's view of the kiosk: camera, model, thresholds, people, disk."""

from __future__ import annotations

import shutil

from flask import Blueprint, Response, abort, current_app, render_template

from kiosk.web.auth import login_required
from kiosk.web.services import services

bp = Blueprint("status_page", __name__, url_prefix="/admin")


@bp.get("/status")
@login_required
def status():
    found, config = services(), current_app.config["KIOSK_CONFIG"]
    usage = shutil.disk_usage(config.kiosk.data_dir)
    encoder = found.app.encoder
    contract = encoder.embedder.contract if encoder else None
    need_photo = len(found.app.stale_references()) if contract else 0
    return render_template(
        "status.html",
        s=found.status.snapshot(with_people=True),
        disk_free_mb=usage.free // 2**20,
        contract=contract,
        need_photo=need_photo,
        rules=config.recognition,
        fleet=found.sync() if found.sync else None,
        site=config.fleet.site,
        spoofs=[(event.number, event.at) for event in list(found.status.last_spoofs)],
        liveness=config.liveness.mode,
    )


@bp.get("/spoofs/<int:number>.jpg")
@login_required
def spoof_photo(number: int):
    """The face of a refused photo or screen: admins only, never cached, kept in memory only."""
    event = next((e for e in list(services().status.last_spoofs) if e.number == number), None)
    if event is None:
        abort(404, description=f"No picture of refused attempt {number} (only the last few are kept, until a restart).")
    return Response(event.jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
