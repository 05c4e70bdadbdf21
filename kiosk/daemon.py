"""The recognition loop that runs all day: camera -> recognizer -> vote ->
durable punch -> what the person at the kiosk sees."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from kiosk.cameras import Camera, CameraError
from kiosk.config import RecognitionSettings
from kiosk.quality import REASONS
from kiosk.recognition import Recognizer, Voter
from kiosk.store import Store

log = logging.getLogger(__name__)

IDLE_MESSAGE = "Look at the camera"
UNKNOWN_MESSAGE = "Not recognised - please see your manager"


@dataclass
class Status:
    """What the kiosk screen and /status show; updated by the loop."""

    message: str = IDLE_MESSAGE
    state: str = "idle"  # idle | guidance | welcome | unknown | no-camera
    camera: str = "starting"
    fps: float = 0.0
    gallery_size: int = 0
    model_version: str = ""
    threshold: float = 0.0
    last_recognitions: deque = field(default_factory=lambda: deque(maxlen=10))
    unknown_faces: int = 0
    frames: int = 0
    sequence: int = 0
    last_frame_at: float = 0.0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def show(self, state: str, message: str) -> None:
        with self.changed:
            if (state, message) != (self.state, self.message):
                self.state, self.message = state, message
                self.sequence += 1
                self.changed.notify_all()

    def snapshot(self, with_people: bool = False) -> dict:
        """State for /status; who was recognised only for the logged-in admin."""
        data = {
            "state": self.state, "message": self.message, "camera": self.camera, "fps": round(self.fps, 1),
            "gallery_size": self.gallery_size, "model_version": self.model_version, "threshold": self.threshold,
            "unknown_faces": self.unknown_faces, "frames": self.frames, "sequence": self.sequence,
        }
        if with_people:
            data["last_recognitions"] = list(self.last_recognitions)
        return data


class KioskLoop:
    def __init__(self, *, open_camera, recognizer: Recognizer, store: Store, settings: RecognitionSettings,
                 kiosk_id: str, model_version: str, status: Status, notifier=None, clock=None,
                 hold_seconds: float = 4.0, retry_max_seconds: float = 10.0):
        self.open_camera = open_camera
        self.recognizer, self.store, self.settings = recognizer, store, settings
        self.kiosk_id, self.model_version = kiosk_id, model_version
        self.status, self.notifier = status, notifier
        self.clock = clock or (lambda: dt.datetime.now().astimezone())
        self.hold_seconds, self.retry_max_seconds = hold_seconds, retry_max_seconds
        self.voter = Voter(settings.frames_needed, settings.frames_window)
        self.stop_event = threading.Event()
        self.gallery = store.gallery(model_version)
        self.status.gallery_size = len(self.gallery)
        self._hold_until = 0.0
        self.latest_frame = None  # for "capture from the kiosk camera"; kept in memory only

    def stop(self) -> None:
        self.stop_event.set()

    def _refresh_gallery(self) -> None:
        # One cheap query a frame: admin changes reach the loop on the next frame.
        if self.store.generation() != self.gallery.generation:
            self.gallery = self.store.gallery(self.model_version)
            self.status.gallery_size = len(self.gallery)
            log.info("gallery reloaded: %d people", len(self.gallery))

    def _camera(self) -> Camera | None:
        delay = min(1.0, self.retry_max_seconds)
        while not self.stop_event.is_set():
            try:
                camera = self.open_camera()
                self.status.camera = f"ok ({camera.name})"
                log.info("camera %s opened", camera.name)
                return camera
            except CameraError as exc:
                self.status.camera = f"unavailable: {exc}"
                self.status.show("no-camera", "Camera not available - please tell your manager")
                log.warning("camera unavailable (%s); retrying in %.0f s", exc, delay)
                if self.notifier:
                    self.notifier.watchdog()  # alive and retrying, not hung
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.retry_max_seconds)
        return None

    def process(self, frame) -> None:
        self.latest_frame = frame
        self._refresh_gallery()
        result = self.recognizer.recognize(frame, self.gallery)
        self.status.frames += 1
        now = time.monotonic()
        winner = self.voter.add(result)
        if winner is not None:
            punch = self.store.record_punch(
                winner, at=self.clock(), distance=result.match.distance, kiosk_id=self.kiosk_id,
                model_version=self.model_version, cooldown_seconds=self.settings.cooldown_seconds,
            )
            if punch is not None:
                local = dt.datetime.fromisoformat(punch.at)
                log.info("punch %s for employee %d", punch.direction, punch.employee_id)
                self.status.last_recognitions.appendleft({"employee_id": punch.employee_id, "name": punch.name, "direction": punch.direction, "at": punch.at})
                self.status.show("welcome", f"Welcome, {punch.name} - {punch.direction} at {local:%H:%M}")
            else:
                self.status.show("welcome", f"Hello {result.name} - already recorded")
            self._hold_until = now + self.hold_seconds
        elif self.voter.unknown_streak():
            self.status.unknown_faces += 1
            self.voter.votes.clear()
            log.info("unrecognised face (counted, not logged)")
            self.status.show("unknown", UNKNOWN_MESSAGE)
            self._hold_until = now + self.hold_seconds
        elif now >= self._hold_until:
            if result.quality.reason and result.quality.reason != "no_face":
                self.status.show("guidance", REASONS[result.quality.reason])
            else:
                self.status.show("idle", IDLE_MESSAGE)

    def run(self) -> None:
        camera = self._camera()
        started, frames = time.monotonic(), 0
        while camera is not None and not self.stop_event.is_set():
            try:
                frame = camera.read()
            except CameraError as exc:
                log.warning("camera failed: %s", exc)
                camera.close()
                camera = self._camera()
                continue
            if frame is None:
                log.info("camera source ended")
                break
            self.process(frame)
            frames += 1
            self.status.last_frame_at = time.monotonic()
            elapsed = time.monotonic() - started
            if elapsed >= 2:
                self.status.fps = frames / elapsed
                started, frames = time.monotonic(), 0
            if self.notifier:
                # Fed only here, so a loop stuck without frames lets systemd restart us.
                self.notifier.watchdog()
        if camera is not None:
            camera.close()
