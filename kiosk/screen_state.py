"""What the kiosk screen shows, and for how long: a welcome or "not
recognised" is held for ``welcome_seconds`` (a welcome as long as its person
stays in view), and otherwise the screen follows the frame: guidance for a
face the gate refused, or the idle prompt."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

from kiosk.application import VisitOutcome
from kiosk.config import DisplaySettings
from kiosk.quality import REASONS
from kiosk.status import IDLE_TITLE, Screen, Status

# The person's own left is on the screen's left: the kiosk's picture is a mirror.
CHALLENGE_TITLES = {
    "left": "\u2190 Turn your head to your left",
    "right": "Turn your head to your right \u2192",
    "blink": "Please blink",
}


def clock_text(at: dt.datetime, time_format: str) -> str:
    return at.strftime("%H:%M") if time_format == "24h" else at.strftime("%I:%M %p").lstrip("0")


class ScreenState:
    """Turns the visit's outcomes and each frame into :class:`Screen` states on ``status``."""

    def __init__(self, status: Status, display: DisplaySettings, zone: dt.tzinfo):
        self.status, self.display, self.zone = status, display, zone
        self._hold_until = 0.0  # a welcome or "not recognised" stays this long ...
        self._hold_person: int | None = None  # ... and a welcome as long as its person is in view

    def _clock(self, at: dt.datetime) -> str:
        return clock_text(at.astimezone(self.zone), self.display.time_format)

    def punched(self, person: int, outcome: VisitOutcome, now: float) -> None:
        if outcome.entry is not None:
            detail = f"{outcome.entry.direction.upper()} at {self._clock(outcome.entry.at)}"
            self._hold(Screen("welcome", f"Welcome, {outcome.name}", detail, public_title="Welcome"), now, person)
        else:
            earlier = outcome.earlier
            detail = f"already recorded at {self._clock(earlier.at)} ({(earlier.direction or '').upper()})"
            self._hold(Screen("already", f"Hello {outcome.name}", detail, public_title="Hello"), now, person)

    def cannot_record(self, now: float) -> None:
        """The person was recognised but their punch could not be recorded: never claim it was."""
        self._hold(Screen("cannot-record", "Cannot record right now", "please tell your manager"), now, None)

    def spoof(self, now: float) -> None:
        """A photo or a screen: a neutral word, never a name."""
        self._hold(Screen("spoof", "Please look at the camera, not a photo", "no attendance was recorded"), now, None)

    def challenge_failed(self, now: float) -> None:
        self._hold(Screen("challenge-failed", "Not done in time", "step back, then come to the camera again"), now, None)

    def challenge(self, kind: str, left: float, face: dict | None) -> None:
        """Ask for a head turn or a blink; ``left`` seconds remain."""
        title = CHALLENGE_TITLES[kind]
        self.status.show(Screen("challenge", title, f"{max(0, math.ceil(left))} s left", public_title=title), face)

    def not_recognised(self, now: float) -> None:
        self._hold(Screen("unknown", "Not recognised", "please see your manager"), now, None)

    def frame(self, guidance: str | None, face: dict | None, person_in_view: Callable[[int], bool], now: float) -> None:
        """After each frame: keep a held screen (longer while its person stays), else guidance or idle."""
        if self._hold_person is not None and person_in_view(self._hold_person):
            self._hold_until = max(self._hold_until, now + 0.5)  # the person is still here: keep their welcome
        if now >= self._hold_until:
            self._hold_person = None
            screen = Screen("guidance", REASONS[guidance]) if guidance and guidance != "no_face" else Screen("idle", IDLE_TITLE)
            self.status.show(screen, face)
        else:
            self.status.show(self.status.screen, face)

    def _hold(self, screen: Screen, now: float, person: int | None) -> None:
        self._hold_until, self._hold_person = now + self.display.welcome_seconds, person
        self.status.show(screen, self.status.face)
