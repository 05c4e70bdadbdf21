"""The recognition loop that runs all day: camera pump -> visit decision ->
the application's punch -> screen state and preview. Each piece has a
module of its own; this one only passes a frame along."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from kiosk import visits
from kiosk.application import Application
from kiosk.camera_pump import CameraPump
from kiosk.database_file import StoreError
from kiosk.disk_space import recording_problem
from kiosk.loop_observer import ALREADY, CANNOT_RECORD, NOT_RECOGNISED, SPOOF, WELCOME, LoopObserver, NoObserver
from kiosk.preview import PreviewFeed
from kiosk.recognition import FrameResult
from kiosk.screen_state import ScreenState
from kiosk.status import SpoofEvent, Status
from kiosk.visit_decision import ChallengeFailed, Spoofed, VisitDecision

log = logging.getLogger(__name__)


def mirrored_box(frame: np.ndarray, result: FrameResult) -> dict | None:
    """The face the gate saw, as the mirrored screen shows it (0..1), and whether it is good."""
    if result.quality.face is None:
        return None
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in result.quality.face.box)
    return {"box": [round(1 - x2 / w, 4), round(y1 / h, 4), round(1 - x1 / w, 4), round(y2 / h, 4)], "good": result.quality.good}


def face_jpeg(frame: np.ndarray, result: FrameResult, side: int = 96) -> bytes:
    """A small JPEG of the frame's face (the whole frame, shrunk, when there is none)."""
    face = result.quality.face
    if face is not None:
        h, w = frame.shape[:2]
        x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
        pad = (x2 - x1) // 4
        crop = frame[max(0, y1 - pad) : min(h, y2 + pad), max(0, x1 - pad) : min(w, x2 + pad)]
        frame = crop if crop.size else frame
    scale = side / max(frame.shape[:2])
    small = cv2.resize(frame, (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))))
    return cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


class KioskLoop:
    """Reads frames, decides per visit, records punches and keeps the screen current."""

    def __init__(
        self,
        pump: CameraPump,
        decision: VisitDecision,
        screen: ScreenState,
        status: Status,
        preview: PreviewFeed | None = None,
        observer: LoopObserver | None = None,
    ):
        self.pump, self.decision, self.screen, self.status = pump, decision, screen, status
        self.app: Application = decision.app
        self.preview = preview
        self.observer = observer or NoObserver()
        self.stop_event = pump.stop_event
        self.error: str | None = None  # why the loop stopped on its own
        self.latest_frame = None  # for "capture from the kiosk camera"; kept in memory only

    @property
    def finished(self) -> bool:
        """The camera source ended (a replay that does not loop)."""
        return self.pump.finished

    @property
    def gallery(self):
        return self.decision.gallery

    def stop(self) -> None:
        self.stop_event.set()

    def process(self, frame: np.ndarray) -> FrameResult:
        self.latest_frame = frame
        now = self.pump.monotonic()
        result, events = self.decision.step(frame, now)
        self.status.frames += 1
        self.observer.frame(result.timings)
        for event in events:
            if isinstance(event, visits.Recognised):
                self._punch(event, now)
            elif isinstance(event, visits.NotRecognised):
                self.status.unknown_faces += 1
                self.observer.decision(NOT_RECOGNISED)
                log.info("unrecognised face (counted, not logged)")
                self.screen.not_recognised(now)
            elif isinstance(event, Spoofed):
                self._spoof(frame, result, now)
            elif isinstance(event, ChallengeFailed):
                log.info("a challenge was not done in time (nothing recorded)")
                self.screen.challenge_failed(now)
        guidance = result.quality.reason if result.face_found and not result.quality.good else None
        challenge = self.decision.challenge
        if challenge is not None:
            left = self.decision.liveness.door.challenge_seconds - (now - challenge.asked_at)
            self.screen.challenge(challenge.kind, left, mirrored_box(frame, result))
        else:
            self.screen.frame(guidance, mirrored_box(frame, result), self.decision.in_view, now)
        if self.preview is not None:
            face = result.quality.face
            self.preview.offer(frame, None if face is None else face.box, result.quality.good, now)
        return result

    def _spoof(self, frame: np.ndarray, result: FrameResult, now: float) -> None:
        """A photo or a screen was refused: count it, keep its face for the admin, tell the person."""
        self.status.spoofs += 1
        self.status.last_spoofs.appendleft(SpoofEvent(self.status.spoofs, self.app.clock().isoformat(), face_jpeg(frame, result)))
        log.warning("a photo or screen was refused at the door (nothing recorded)")
        self.observer.decision(SPOOF)
        self.screen.spoof(now)

    def _punch(self, event: visits.Recognised, now: float) -> None:
        person = event.person
        try:
            outcome = self.app.record_visit(person, event.distance, self.decision.name_of(person))
        except StoreError:  # the file was deleted or replaced: writing on would lose punches
            raise
        except Exception as exc:  # a full disk, say: the door goes on, and says it cannot record
            self.status.recording_problem = recording_problem(exc, self.app.store.path.parent)
            log.error("could not record a punch for employee %d: %s", person, exc)
            self.screen.cannot_record(now)
            self.observer.decision(CANNOT_RECORD)
            return
        self.status.recording_problem = None
        if outcome.entry is not None:
            log.info("punch %s for employee %d", outcome.entry.direction, person)
            self.status.last_recognitions.appendleft(
                {
                    "employee_id": person,
                    "name": outcome.name,
                    "direction": outcome.entry.direction,
                    "at": outcome.entry.at.isoformat(),
                }
            )
        self.screen.punched(person, outcome, now)
        self.observer.decision(WELCOME if outcome.entry is not None else ALREADY)
        best = self.decision.best_named
        try:  # pictures not kept must never cost a punch or the loop
            if outcome.entry is not None and best is not None:
                self.app.keep_punch_photo(outcome.entry, best)
            if self.app.learn(person, event, best, outcome.entry) is not None:
                log.info("learnt a new template of employee %d at the door", person)
        except Exception:
            log.exception("could not keep the visit's face (punch photo or template)")

    def run(self) -> None:
        """Until stopped, or until a replay that does not loop has played out;
        a failure (such as the database file vanishing) stops it with ``error`` set."""
        try:
            for frame in self.pump.frames():
                self.process(frame)
        except Exception as exc:
            self.error = str(exc)
            log.exception("the recognition loop stopped")
            self.stop()
