"""Raspberry Pi camera through picamera2 (apt: python3-picamera2), imported lazily."""

from __future__ import annotations

import numpy as np

from kiosk.cameras import CameraError


class PiCamera:
    def __init__(self, width: int = 640, height: int = 480):
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(
                "picamera2 is not installed (on a Pi: apt install python3-picamera2, "
                "and create the venv with --system-site-packages)"
            ) from exc
        self.name = "picamera"
        try:
            self._cam = Picamera2()
            # libcamera's "RGB888" is stored B, G, R in memory: already OpenCV's BGR order.
            self._cam.configure(self._cam.create_video_configuration(main={"size": (width, height), "format": "RGB888"}))
            self._cam.start()
        except (RuntimeError, IndexError) as exc:
            raise CameraError(f"Pi camera not available ({exc})") from exc

    def read(self) -> np.ndarray | None:
        try:
            frame = self._cam.capture_array("main")
        except RuntimeError as exc:
            raise CameraError(f"Pi camera read failed ({exc})") from exc
        # XRGB8888 arrives with a fourth padding channel.
        return frame[:, :, :3] if frame.ndim == 3 and frame.shape[2] == 4 else frame

    def close(self) -> None:
        self._cam.stop()
        self._cam.close()
