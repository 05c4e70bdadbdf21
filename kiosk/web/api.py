"""/healthz and /status: machine-readable state of the kiosk."""

from __future__ import annotations

import shutil
import time

from flask import Blueprint, current_app, jsonify

from kiosk.web.viewers import trusted

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def healthz():
    """200 while the kiosk can do its job; 503 once the camera has been down
    longer than camera.unhealthy_after_seconds, or while punches cannot be
    recorded (a full disk), with the reason (the admin page still works)."""
    status = current_app.config["SERVICES"].status
    limit = current_app.config["KIOSK_CONFIG"].camera.unhealthy_after_seconds
    camera = status.camera
    down = None if camera.down_since is None else time.monotonic() - camera.down_since
    fresh = bool(camera.last_frame_at) and time.monotonic() - camera.last_frame_at < 10
    recording = status.recording_problem
    reasons = [recording.reason] if recording else []
    if down is not None and down >= limit:
        reasons.append(f"the camera has been down for {down:.0f} s ({camera.state})")
    body = {
        "ok": not reasons,
        "camera": camera.state,
        "camera_down_seconds": None if down is None else round(down, 1),
        "processing_frames": fresh,
        "recording": "ok" if recording is None else recording.reason,
        "disk_warning": status.disk_warning,
    }
    if reasons:
        body["reason"] = "; ".join(reasons)
    return jsonify(body), 503 if reasons else 200


@bp.get("/status")
def status():
    services = current_app.config["SERVICES"]
    data = services.status.snapshot(with_people=trusted())
    usage = shutil.disk_usage(current_app.config["KIOSK_CONFIG"].kiosk.data_dir)
    data["disk_free_mb"] = usage.free // 2**20
    if services.sync is not None:
        data["fleet"] = services.sync()
    return jsonify(data)
