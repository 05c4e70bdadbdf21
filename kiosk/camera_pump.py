"""Frames from the camera for as long as the kiosk runs: opens the camera,
reopens a lost one with a growing pause, counts frames per second and marks
progress for the watchdog."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from kiosk.cameras import Camera, CameraError
from kiosk.status import Screen, Status

log = logging.getLogger(__name__)


class CameraPump:
    """Yields frames until ``stop_event`` is set or the source ends (then
    ``finished``); keeps ``status.camera`` and shows "Camera not available"
    on the screen while there is none."""

    def __init__(
        self,
        open_camera: Callable[[], Camera],
        status: Status,
        stop_event: threading.Event,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        retry_max_seconds: float = 10.0,
    ):
        self.open_camera, self.status, self.stop_event = open_camera, status, stop_event
        self.monotonic, self.retry_max_seconds = monotonic, retry_max_seconds
        self.camera = status.camera  # this pump's to write
        self.finished = False  # the camera source ended (a replay that does not loop)

    def frames(self) -> Iterator[np.ndarray]:
        camera = self._open()
        started, count = self.monotonic(), 0
        try:
            while camera is not None and not self.stop_event.is_set():
                try:
                    frame = camera.read()
                except CameraError as exc:
                    log.warning("camera failed: %s", exc)
                    self.camera.down_since = self.monotonic()
                    camera.close()
                    camera = self._open()
                    continue
                if frame is None:
                    log.info("camera source ended")
                    self.camera.state = "ended"
                    self.status.show(Screen("ended", "Replay finished"))
                    self.finished = True
                    return
                yield frame
                count += 1
                self.camera.last_frame_at = self.camera.last_progress = self.monotonic()
                elapsed = self.camera.last_frame_at - started
                if elapsed >= 2:
                    self.camera.fps = count / elapsed
                    started, count = self.monotonic(), 0
        finally:
            if camera is not None:
                camera.close()

    def _open(self) -> Camera | None:
        delay = min(1.0, self.retry_max_seconds)
        while not self.stop_event.is_set():
            try:
                camera = self.open_camera()
                self.camera.state, self.camera.down_since = f"ok ({camera.name})", None
                log.info("camera %s opened", camera.name)
                return camera
            except CameraError as exc:
                self.camera.state = f"unavailable: {exc}"
                if self.camera.down_since is None:
                    self.camera.down_since = self.monotonic()
                self.status.show(Screen("no-camera", "Camera not available", "please tell your manager"))
                log.warning("camera unavailable (%s); retrying in %.0f s", exc, delay)
                self.camera.last_progress = self.monotonic()  # alive and retrying, not hung
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.retry_max_seconds)
        return None
