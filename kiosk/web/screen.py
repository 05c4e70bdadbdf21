"""The full-screen page Chromium shows on the kiosk, fed by server-sent
events, and the live camera picture (MJPEG) on it."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context

from kiosk.web.viewers import slots, trusted

bp = Blueprint("screen", __name__)
KEEPALIVE_SECONDS = 15


def _status():
    return current_app.config["SERVICES"].status


@bp.get("/")
def index():
    display = current_app.config["KIOSK_CONFIG"].display
    is_trusted = trusted()
    return render_template(
        "screen.html",
        screen=_status().screen.for_viewer(is_trusted),
        time_format=display.time_format,
        preview=display.preview and is_trusted,
    )


def _stream(body, mimetype: str, headers: dict | None = None) -> Response:
    release = slots().acquire(request.remote_addr or "", trusted())
    if release is None:
        abort(503, description="Too many open connections to the kiosk; try again shortly.")
    response = Response(
        stream_with_context(body()),
        mimetype=mimetype,
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no", **(headers or {})},
    )
    response.call_on_close(release)  # however the stream ends, even before its first byte
    return response


@bp.get("/events")
def events():
    status = _status()
    once = current_app.config.get("SSE_ONCE", False)
    is_trusted = trusted()

    def body():
        seen = -1
        while True:
            with status.changed:
                status.changed.wait_for(lambda seen=seen: status.sequence != seen, timeout=KEEPALIVE_SECONDS)
                seen = status.sequence
                payload = status.event(is_trusted)
            yield f"data: {json.dumps(payload)}\n\n"
            if once:
                return

    return _stream(body, "text/event-stream")


@bp.get("/preview.mjpg")
def preview():
    """The mirrored camera picture, for the kiosk's own display and admins only."""
    if not trusted():
        abort(403, description="The camera picture is shown on the kiosk itself, or to a logged-in admin.")
    if not current_app.config["KIOSK_CONFIG"].display.preview:
        abort(404, description="The camera preview is turned off (display.preview = false).")
    picture = _status().preview
    once = current_app.config.get("SSE_ONCE", False)

    def body():
        picture.watch(+1)
        try:
            seen = -1
            while True:
                with picture.changed:
                    picture.changed.wait_for(lambda seen=seen: picture.sequence != seen, timeout=KEEPALIVE_SECONDS)
                    seen, jpeg = picture.sequence, picture.jpeg
                if jpeg:
                    yield (
                        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                        + str(len(jpeg)).encode()
                        + b"\r\n\r\n"
                        + jpeg
                        + b"\r\n"
                    )
                if once:
                    return
        finally:
            picture.watch(-1)

    return _stream(body, "multipart/x-mixed-replace; boundary=frame")
