"""Choosing a camera from config; used only by the composition root."""

from __future__ import annotations

import logging

from kiosk.cameras import Camera, CameraError
from kiosk.config import CameraSettings

log = logging.getLogger(__name__)


def open_camera(settings: CameraSettings) -> Camera:
    """The configured source; with ``auto``, the Pi camera, else the first USB camera."""
    source = settings.source
    if source == "none":
        raise CameraError('camera disabled in config (camera.source = "none")')
    if source == "replay":
        from kiosk.cameras.replay import ReplayCamera

        return ReplayCamera(settings.replay_path, fps=settings.fps, loop=settings.loop)
    if source in ("picamera", "auto"):
        from kiosk.cameras.picamera import PiCamera

        try:
            return PiCamera(settings.width, settings.height)
        except CameraError as exc:
            if source == "picamera":
                raise
            log.debug("no Pi camera: %s", exc)
    from kiosk.cameras.usb import UsbCamera

    try:
        return UsbCamera(settings.device, settings.width, settings.height)
    except CameraError as exc:
        if source == "usb":
            raise
        raise CameraError("no camera found: no Pi camera and no USB camera at /dev/video0") from exc
