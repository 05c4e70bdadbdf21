"""Plays a folder of images or a video file as a camera (demos, tests, benchmarks)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from kiosk.cameras import CameraError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class ReplayCamera:
    def __init__(self, path: str | Path, fps: float = 0.0, loop: bool = False, repeat: int = 1):
        self.path = Path(path)
        self.name = f"replay:{self.path.name}"
        self.fps, self.loop, self.repeat = fps, loop, repeat
        self._last = 0.0
        if self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._files:
                raise CameraError(f"{self.path}: no images to replay")
            self._video = None
        elif self.path.is_file():
            self._files = []
            self._video = cv2.VideoCapture(str(self.path))
            if not self._video.isOpened():
                raise CameraError(f"{self.path}: cannot open as a video")
        else:
            raise CameraError(f"{self.path}: replay source not found")
        self._index = 0

    def _pace(self) -> None:
        if self.fps > 0:
            wait = self._last + 1.0 / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def read(self) -> np.ndarray | None:
        self._pace()
        if self._video is not None:
            ok, frame = self._video.read()
            if not ok and self.loop:
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._video.read()
            return frame if ok else None
        total = len(self._files) * self.repeat
        if self._index >= total:
            if not self.loop:
                return None
            self._index = 0
        path = self._files[self._index // self.repeat]
        self._index += 1
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise CameraError(f"{path}: unreadable image")
        return frame

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
