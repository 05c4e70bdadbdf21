"""The recognition loop that runs all day: camera -> recognizer -> visit
rules -> attendance rules -> durable punch -> what the person at the kiosk
sees, and the shared :class:`Status` the web pages read."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from kiosk import attendance, preview, visits
from kiosk.cameras import Camera, CameraError
from kiosk.config import AttendanceSettings, DisplaySettings, RecognitionSettings
from kiosk.quality import REASONS
from kiosk.recognition import FrameResult, Recognizer
from kiosk.store import Store

log = logging.getLogger(__name__)

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
    """Shared between the loop and the web server; updated by the loop."""

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

    @property
    def message(self) -> str:
        return " - ".join(p for p in (self.screen.title, self.screen.detail) if p)

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


def clock_text(at: dt.datetime, time_format: str) -> str:
    return at.strftime("%H:%M") if time_format == "24h" else at.strftime("%I:%M %p").lstrip("0")


def seen(result: FrameResult) -> visits.Seen:
    """What the visit rules need of a frame result."""
    quality = result.quality
    return visits.Seen(
        face=result.face_found, good=quality.good,
        person=result.employee_id if result.accepted and quality.good else None,
        distance=result.match.distance if result.match else None,
        guidance=quality.reason if result.face_found and not quality.good else None,
    )


class KioskLoop:
    """Reads frames, decides per visit, records punches and keeps the screen current."""

    def __init__(self, *, open_camera, recognizer: Recognizer, store: Store, recognition: RecognitionSettings,
                 rules: AttendanceSettings, display: DisplaySettings, kiosk_id: str, model_version: str, status: Status,
                 notifier=None, clock=None, monotonic=None, retry_max_seconds: float = 10.0):
        self.open_camera = open_camera
        self.recognizer, self.store = recognizer, store
        self.rules, self.display = rules, display
        self.votes = visits.VoteSettings(recognition.frames_needed, recognition.frames_window, recognition.visit_gap_seconds)
        self.kiosk_id, self.model_version = kiosk_id, model_version
        self.status, self.notifier = status, notifier
        self.zone = rules.zone()
        self.clock = clock or (lambda: dt.datetime.now(self.zone))
        self.monotonic = monotonic or time.monotonic
        self.retry_max_seconds = retry_max_seconds
        self.visit = visits.Visit()
        self.stop_event = threading.Event()
        self.finished = False  # the camera source ended (a replay that does not loop)
        self.error: str | None = None  # why the loop stopped on its own
        self.gallery = store.gallery(model_version)
        self._publish_gallery()
        self._hold_until = 0.0  # a welcome or "not recognised" stays this long ...
        self._hold_person: int | None = None  # ... and a welcome as long as its person is in view
        self._last_preview = 0.0
        self.latest_frame = None  # for "capture from the kiosk camera"; kept in memory only

    def stop(self) -> None:
        self.stop_event.set()

    def _publish_gallery(self) -> None:
        self.status.gallery_size = len(self.gallery)
        self.status.threshold = self.recognizer.thresholds(len(self.gallery)).good

    def _refresh_gallery(self) -> None:
        # One cheap query a frame: admin changes reach the loop on the next frame.
        if self.store.generation() != self.gallery.generation:
            self.gallery = self.store.gallery(self.model_version)
            self._publish_gallery()
            log.info("gallery reloaded: %d people", len(self.gallery))

    # -- one frame -----------------------------------------------------------------------
    def process(self, frame) -> FrameResult:
        self.latest_frame = frame
        self._refresh_gallery()
        result = self.recognizer.recognize(frame, self.gallery)
        self.status.frames += 1
        now = self.monotonic()
        self.visit, events = visits.step(self.visit, seen(result), now, self.votes)
        for event in events:
            self._handle(event, result, now)
        face = None
        if result.quality.face is not None:
            h, w = frame.shape[:2]
            x1, y1, x2, y2 = (float(v) for v in result.quality.face.box)
            face = {"box": [round(1 - x2 / w, 4), round(y1 / h, 4), round(1 - x1 / w, 4), round(y2 / h, 4)], "good": result.quality.good}
        if self._hold_person is not None and self._hold_person in self.visit.named and self.visit.active:
            self._hold_until = max(self._hold_until, now + 0.5)  # the person is still here: keep their welcome
        if now >= self._hold_until:
            self._hold_person = None
            reason = result.quality.reason if result.face_found and not result.quality.good else None
            screen = Screen("guidance", REASONS[reason]) if reason and reason != "no_face" else Screen("idle", IDLE_TITLE)
            self.status.show(screen, face)
        else:
            self.status.show(self.status.screen, face)
        self._update_preview(frame, result, now)
        return result

    def _handle(self, event, result: FrameResult, now: float) -> None:
        if isinstance(event, visits.Recognised):
            self._punch(event.person, event.distance, now)
        elif isinstance(event, visits.NotRecognised):
            self.status.unknown_faces += 1
            log.info("unrecognised face (counted, not logged)")
            self._hold(Screen("unknown", "Not recognised", "please see your manager"), now, None)

    def _punch(self, person: int, distance: float | None, now: float) -> None:
        at = self.clock()
        if at.tzinfo is None:
            raise ValueError("the kiosk clock must give times with a time zone")

        def rule(history):
            return attendance.decide(history, at, self.rules.cooldown_seconds, self.zone, self.rules.day_start_time)

        entry, decision = self.store.record_visit(
            person, at, rule, work_day=attendance.work_day(at, self.zone, self.rules.day_start_time), distance=distance,
            kiosk_id=self.kiosk_id, model_version=self.model_version)
        name = self.gallery.names[list(self.gallery.ids).index(person)] if person in self.gallery.ids else "?"
        if entry is not None:
            log.info("punch %s for employee %d", entry.direction, person)
            self.status.last_recognitions.appendleft({"employee_id": person, "name": name, "direction": entry.direction,
                                                      "at": entry.at.isoformat()})
            detail = f"{entry.direction.upper()} at {clock_text(entry.at.astimezone(self.zone), self.display.time_format)}"
            self._hold(Screen("welcome", f"Welcome, {name}", detail, public_title="Welcome"), now, person)
        else:
            earlier = decision.recent
            detail = (f"already recorded at {clock_text(earlier.at.astimezone(self.zone), self.display.time_format)}"
                      f" ({(earlier.direction or '').upper()})")
            self._hold(Screen("already", f"Hello {name}", detail, public_title="Hello"), now, person)

    def _hold(self, screen: Screen, now: float, person: int | None) -> None:
        self._hold_until, self._hold_person = now + self.display.welcome_seconds, person
        self.status.show(screen, self.status.face)

    def _update_preview(self, frame, result: FrameResult, now: float) -> None:
        if not self.display.preview or self.status.preview_viewers <= 0:
            return
        if now - self._last_preview < 1.0 / self.display.preview_fps:
            return
        self._last_preview = now
        face = result.quality.face
        self.status.set_preview(preview.render(frame, None if face is None else face.box, result.quality.good))

    # -- the camera ------------------------------------------------------------------------
    def _camera(self) -> Camera | None:
        delay = min(1.0, self.retry_max_seconds)
        while not self.stop_event.is_set():
            try:
                camera = self.open_camera()
                self.status.camera, self.status.camera_down_since = f"ok ({camera.name})", None
                log.info("camera %s opened", camera.name)
                return camera
            except CameraError as exc:
                self.status.camera = f"unavailable: {exc}"
                if self.status.camera_down_since is None:
                    self.status.camera_down_since = self.monotonic()
                self.status.show(Screen("no-camera", "Camera not available", "please tell your manager"))
                log.warning("camera unavailable (%s); retrying in %.0f s", exc, delay)
                self.status.last_progress = self.monotonic()  # alive and retrying, not hung
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.retry_max_seconds)
        return None

    def run(self) -> None:
        """Until stopped, or until a replay that does not loop has played out;
        a failure (such as the database file vanishing) stops it with ``error`` set."""
        try:
            self._run()
        except Exception as exc:
            self.error = str(exc)
            log.exception("the recognition loop stopped")
            self.stop()

    def _run(self) -> None:
        camera = self._camera()
        started, frames = self.monotonic(), 0
        while camera is not None and not self.stop_event.is_set():
            try:
                frame = camera.read()
            except CameraError as exc:
                log.warning("camera failed: %s", exc)
                self.status.camera_down_since = self.monotonic()
                camera.close()
                camera = self._camera()
                continue
            if frame is None:
                log.info("camera source ended")
                self.status.camera = "ended"
                self.status.show(Screen("ended", "Replay finished"))
                self.finished = True
                break
            self.process(frame)
            frames += 1
            self.status.last_frame_at = self.status.last_progress = self.monotonic()
            elapsed = self.status.last_frame_at - started
            if elapsed >= 2:
                self.status.fps = frames / elapsed
                started, frames = self.monotonic(), 0
        if camera is not None:
            camera.close()
