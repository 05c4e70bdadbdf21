"""What the kiosk is doing now, for the web pages: the screen, the camera,
the counters and the preview. The loop (and the camera pump it owns)
writes it; the web layer only reads it, under ``changed``."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

IDLE_TITLE = "Look at the camera"


@dataclass(frozen=True)
class Screen:
    """What the kiosk display shows. ``public_title`` is the same without a
    name, for anyone who is neither the kiosk's own display nor an admin."""

    state: str  # idle | guidance | welcome | already | unknown | no-camera | disabled | ended
    title: str
    detail: str = ""
    public_title: str | None = None

    def for_viewer(self, trusted: bool) -> dict:
        title = self.title if trusted or self.public_title is None else self.public_title
        return {"state": self.state, "title": title, "detail": self.detail}


@dataclass
class Status:
    """Shared between the loop and the web server; written by the loop only."""

    screen: Screen = field(default_factory=lambda: Screen("idle", IDLE_TITLE))
    camera: str = "starting"
    camera_down_since: float | None = None  # monotonic time the camera was lost; None while it works
    fps: float = 0.0
    gallery_size: int = 0
    model_version: str = ""
    threshold: float = 0.0
    last_recognitions: deque = field(default_factory=lambda: deque(maxlen=10))
    unknown_faces: int = 0
    frames: int = 0
    sequence: int = 0
    last_frame_at: float = 0.0
    face: dict | None = None  # the face the gate saw in the latest frame: box (mirrored, 0..1) and whether it is good
    preview: bytes = b""
    preview_sequence: int = 0
    preview_viewers: int = 0
    last_progress: float = field(default_factory=time.monotonic)  # a frame read or a camera retry; for the watchdog
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def state(self) -> str:
        return self.screen.state

    def show(self, screen: Screen, face: dict | None = None) -> None:
        with self.changed:
            if (screen, face) != (self.screen, self.face):
                self.screen, self.face = screen, face
                self.sequence += 1
                self.changed.notify_all()

    def set_preview(self, jpeg: bytes) -> None:
        with self.changed:
            self.preview = jpeg
            self.preview_sequence += 1
            self.changed.notify_all()

    def event(self, trusted: bool) -> dict:
        """One server-sent event: the screen, and the face box only for trusted viewers."""
        data = self.screen.for_viewer(trusted)
        if trusted:
            data["face"] = self.face
        return data

    def snapshot(self, with_people: bool = False) -> dict:
        """State for /status; names only for the kiosk's own display or the logged-in admin."""
        screen = self.screen.for_viewer(with_people)
        data = {
            "state": screen["state"], "message": " - ".join(p for p in (screen["title"], screen["detail"]) if p),
            "camera": self.camera, "fps": round(self.fps, 1), "gallery_size": self.gallery_size,
            "model_version": self.model_version, "threshold": self.threshold, "unknown_faces": self.unknown_faces,
            "frames": self.frames, "sequence": self.sequence,
        }
        if with_people:
            data["last_recognitions"] = list(self.last_recognitions)
        return data
