"""Each frame through the recogniser and the visit rules (kiosk.visits): the
events that say who a visit names, or that it names nobody. Keeps the
gallery current (an admin's change reaches the next frame) and the visit's
best face, which a confident welcome may keep as a template. With a liveness
check, a welcome is held until the check says the face is live, and a photo
or screen is refused instead (:class:`Spoofed`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from kiosk import liveness, visits
from kiosk.application import Application
from kiosk.liveness import Challenge
from kiosk.liveness_check import LivenessCheck
from kiosk.recognition import FrameResult
from kiosk.status import Status
from kiosk.templates import BestFace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spoofed:
    """The visit named ``person``, but the face was a photo or a screen: nothing is punched."""

    person: int


@dataclass(frozen=True)
class ChallengeFailed:
    """The visit named ``person``, who did not do what the challenge asked in time."""

    person: int


def seen(result: FrameResult) -> visits.Seen:
    """What the visit rules need of a frame result."""
    quality = result.quality
    return visits.Seen(
        face=result.face_found,
        tier=quality.tier if quality.ok else None,
        embedding=result.embedding,
        person=result.employee_id if result.accepted and quality.good else None,
        distance=result.match.distance if result.match else None,
        guidance=quality.reason if result.face_found and not quality.good else None,
    )


class VisitDecision:
    """The current visit and the gallery it is matched against."""

    def __init__(
        self, app: Application, settings: visits.VisitSettings, status: Status, liveness_check: LivenessCheck | None = None
    ):
        self.app, self.settings, self.status = app, settings, status
        self.liveness = liveness_check  # None: every face is taken for a live one
        self.pending: tuple[visits.Recognised, float] | None = None  # a welcome the liveness check holds, and since when
        self.visit = visits.Visit()
        self.best: BestFace | None = None  # of the evidence not yet used to name anyone
        self.best_named: BestFace | None = None  # the best face of the evidence that named the last person
        self.gallery = app.gallery()
        self._publish()

    def _publish(self) -> None:
        self.status.gallery_size = len(self.gallery)
        thresholds = self.app.door_thresholds(self.gallery)
        self.status.threshold, self.status.threshold_fair = thresholds.good, thresholds.fair

    def _refresh(self) -> None:
        # One cheap query a frame: admin changes reach the loop on the next frame.
        if self.app.store.generation() != self.gallery.generation:
            self.gallery = self.app.gallery()
            self._publish()
            log.info("gallery reloaded: %d people", len(self.gallery))

    def _judge(self, embedding: np.ndarray, tier: str) -> visits.Opinion:
        return self.app.recognizer.opinion(embedding, tier, self.gallery)

    def step(self, frame_bgr: np.ndarray, now: float) -> tuple[FrameResult, list]:
        self._refresh()
        result = self.app.identify(frame_bgr, self.gallery)
        before = self.visit
        self.visit, events = visits.step(self.visit, seen(result), now, self.settings, self._judge)
        if not self.visit.active or self.visit.started != before.started:
            self.best = None  # a new visit, or none
            self.pending = None  # who walked away is not welcomed
            if self.liveness is not None:
                self.liveness.reset()
        if self.liveness is not None:
            face = result.quality.face
            result.timings["liveness"] = self.liveness.observe(frame_bgr, face, result.quality.ok, now)
            events = self._held(events, now)
        if result.embedding is not None:
            candidate = BestFace(frame_bgr, result.quality.face, result.quality.good)
            if candidate.beats(self.best):
                self.best = candidate
        if any(isinstance(e, visits.Recognised) for e in events):
            self.best_named, self.best = self.best, None  # the face that named them; the evidence starts afresh
        return result, events

    def _held(self, events: list, now: float) -> list:
        """The events with any welcome held until the liveness check has decided it."""
        out = []
        for event in events:
            if isinstance(event, visits.Recognised):
                self.pending = (event, now)
            else:
                out.append(event)
        if self.pending is None:
            return out
        event, since = self.pending
        verdict = self.liveness.verdict(now - since, now)
        if verdict != liveness.WAIT:
            self.pending = None
            if verdict == liveness.LIVE:
                out.append(event)
            else:
                out.append(Spoofed(event.person) if verdict == liveness.SPOOF else ChallengeFailed(event.person))
        return out

    @property
    def challenge(self) -> Challenge | None:
        """What the screen should ask of the person now, if anything."""
        if self.pending is None or self.liveness is None:
            return None
        return self.liveness.challenge

    def in_view(self, person: int) -> bool:
        """The person was named in this visit, and the visit goes on."""
        return person in self.visit.named and self.visit.active

    def name_of(self, person: int) -> str:
        return self.gallery.name_of(person) or "?"
