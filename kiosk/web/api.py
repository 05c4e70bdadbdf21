"""/healthz and /status: machine-readable state of the kiosk."""

from __future__ import annotations

import shutil
import time

from flask import Blueprint, current_app, jsonify

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def healthz():
    status = current_app.config["SERVICES"].status
    fresh = status.last_frame_at and time.monotonic() - status.last_frame_at < 10
    body = {"ok": True, "camera": status.camera, "processing_frames": bool(fresh)}
    return jsonify(body), 200


@bp.get("/status")
def status():
    services = current_app.config["SERVICES"]
    data = services.status.snapshot()
    usage = shutil.disk_usage(current_app.config["KIOSK_CONFIG"].kiosk.data_dir)
    data["disk_free_mb"] = usage.free // 2**20
    return jsonify(data)
