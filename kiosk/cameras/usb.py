"""USB / V4L2 webcam through OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kiosk.cameras import CameraError


class UsbCamera:
    def __init__(self, device: int = 0, width: int = 640, height: int = 480):
        self.name = f"usb:{device}"
        if not Path(f"/dev/video{device}").exists():
            raise CameraError(f"no USB camera at /dev/video{device}")
        self._cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self._cap.isOpened():
            self._cap.release()
            raise CameraError(f"no USB camera at /dev/video{device}")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok:
            raise CameraError(f"{self.name}: no frame (unplugged?)")
        return frame

    def close(self) -> None:
        self._cap.release()
