"""What the kiosk is doing now, for the web pages, in three parts with one
writer each: :class:`Status` (the screen and the recognition counters, written
by the loop), :class:`CameraState` (written by the camera pump) and
:class:`PreviewState` (the picture, written by the preview feed; the web's
streams count their viewers). Readers wait on ``changed``."""

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


@dataclass(frozen=True)
class RecordingProblem:
    """Why the last punch could not be recorded (``disk_full``: for want of space)."""

    reason: str
    disk_full: bool = False


@dataclass(frozen=True)
class SpoofEvent:
    """A photo or screen refused at the door: its ``number`` since start, when (wall
    clock, ISO 8601) and the face (a small JPEG, kept in memory only, shown to admins only)."""

    number: int
    at: str
    jpeg: bytes = field(repr=False)


@dataclass
class CameraState:
    """The camera as the pump last found it."""

    state: str = "starting"  # "ok (NAME)", "unavailable: WHY", "ended", "disabled in config"
    down_since: float | None = field(default=None, init=False)  # monotonic time it was lost; None while it works
    fps: float = field(default=0.0, init=False)
    last_frame_at: float = field(default=0.0, init=False)  # monotonic
    last_progress: float = field(default_factory=time.monotonic, init=False)  # a frame read or a retry; for the watchdog


@dataclass
class PreviewState:
    """The latest preview picture (JPEG) and how many are watching it."""

    jpeg: bytes = field(default=b"", init=False)
    sequence: int = field(default=0, init=False)
    viewers: int = field(default=0, init=False)
    changed: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)

    def publish(self, jpeg: bytes) -> None:
        with self.changed:
            self.jpeg = jpeg
            self.sequence += 1
            self.changed.notify_all()

    def watch(self, delta: int) -> None:
        """A stream starts (+1) or ends (-1)."""
        with self.changed:
            self.viewers += delta


@dataclass
class Status:
    """The screen and what the loop counts, shared with the web server; written by the loop only."""

    model_version: str = ""
    threshold: float = 0.0  # for good faces, at today's gallery size
    gallery_size: int = 0
    camera: CameraState = field(default_factory=CameraState)
    preview: PreviewState = field(default_factory=PreviewState)
    threshold_fair: float = field(default=0.0, init=False)  # for fair faces
    screen: Screen = field(default_factory=lambda: Screen("idle", IDLE_TITLE), init=False)
    face: dict | None = field(
        default=None, init=False
    )  # the face in the latest frame: box (mirrored, 0..1) and whether it is good
    sequence: int = field(default=0, init=False)  # bumped with each change of screen or face
    frames: int = field(default=0, init=False)
    unknown_faces: int = field(default=0, init=False)
    spoofs: int = field(default=0, init=False)  # photos and screens refused since start
    last_spoofs: deque = field(default_factory=lambda: deque(maxlen=10), init=False)  # SpoofEvent, newest first
    last_recognitions: deque = field(default_factory=lambda: deque(maxlen=10), init=False)
    recording_problem: RecordingProblem | None = field(default=None, init=False)  # None: punches are being recorded
    disk_warning: str | None = field(default=None, init=False)  # free space under [kiosk] min_free_mb
    changed: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)

    @property
    def state(self) -> str:
        return self.screen.state

    def show(self, screen: Screen, face: dict | None = None) -> None:
        with self.changed:
            if (screen, face) != (self.screen, self.face):
                self.screen, self.face = screen, face
                self.sequence += 1
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
            "state": screen["state"],
            "message": " - ".join(p for p in (screen["title"], screen["detail"]) if p),
            "camera": self.camera.state,
            "fps": round(self.camera.fps, 1),
            "gallery_size": self.gallery_size,
            "model_version": self.model_version,
            "threshold": self.threshold,
            "threshold_fair": self.threshold_fair,
            "unknown_faces": self.unknown_faces,
            "spoofs": self.spoofs,
            "frames": self.frames,
            "sequence": self.sequence,
            "recording": "ok" if self.recording_problem is None else self.recording_problem.reason,
            "disk_warning": self.disk_warning,
        }
        if with_people:
            data["last_recognitions"] = list(self.last_recognitions)
        return data
