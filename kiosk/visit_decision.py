"""Each frame through the recogniser and the visit rules (kiosk.visits): the
events that say who a visit names, or that it names nobody. Keeps the
gallery current: an admin's change reaches the next frame."""

from __future__ import annotations

import logging

import numpy as np

from kiosk import visits
from kiosk.application import Application
from kiosk.recognition import FrameResult
from kiosk.status import Status

log = logging.getLogger(__name__)


def seen(result: FrameResult) -> visits.Seen:
    """What the visit rules need of a frame result."""
    quality = result.quality
    return visits.Seen(
        face=result.face_found,
        good=quality.good,
        person=result.employee_id if result.accepted and quality.good else None,
        distance=result.match.distance if result.match else None,
        guidance=quality.reason if result.face_found and not quality.good else None,
    )


class VisitDecision:
    """The current visit and the gallery it is matched against."""

    def __init__(self, app: Application, votes: visits.VoteSettings, status: Status):
        self.app, self.votes, self.status = app, votes, status
        self.visit = visits.Visit()
        self.gallery = app.gallery()
        self._publish()

    def _publish(self) -> None:
        self.status.gallery_size = len(self.gallery)
        self.status.threshold = self.app.thresholds(len(self.gallery)).good

    def _refresh(self) -> None:
        # One cheap query a frame: admin changes reach the loop on the next frame.
        if self.app.store.generation() != self.gallery.generation:
            self.gallery = self.app.gallery()
            self._publish()
            log.info("gallery reloaded: %d people", len(self.gallery))

    def step(self, frame_bgr: np.ndarray, now: float) -> tuple[FrameResult, list[visits.Event]]:
        self._refresh()
        result = self.app.identify(frame_bgr, self.gallery)
        self.visit, events = visits.step(self.visit, seen(result), now, self.votes)
        return result, events

    def in_view(self, person: int) -> bool:
        """The person was named in this visit, and the visit goes on."""
        return person in self.visit.named and self.visit.active

    def name_of(self, person: int) -> str:
        return self.gallery.name_of(person) or "?"
