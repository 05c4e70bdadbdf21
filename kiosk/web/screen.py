"""The full-screen page Chromium shows on the kiosk, fed by server-sent events."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, render_template, stream_with_context

bp = Blueprint("screen", __name__)


@bp.get("/")
def index():
    return render_template("screen.html", status=current_app.config["SERVICES"].status.snapshot())


@bp.get("/events")
def events():
    status = current_app.config["SERVICES"].status
    once = current_app.config.get("SSE_ONCE", False)

    def stream():
        seen = -1
        while True:
            with status.changed:
                status.changed.wait_for(lambda: status.sequence != seen, timeout=15)
                seen = status.sequence
                payload = {"state": status.state, "message": status.message}
            yield f"data: {json.dumps(payload)}\n\n"
            if once:
                return

    return Response(stream_with_context(stream()), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
