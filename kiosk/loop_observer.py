"""What the recognition loop tells an observer (the Prometheus metrics, say) as
it works: each frame's time per stage, and each decision it acts on. The loop
never waits on an observer's network or disk: an observer only counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

# The decisions the loop acts on.
WELCOME = "welcome"  # a punch recorded
ALREADY = "already"  # recognised within the cooldown: nothing recorded
NOT_RECOGNISED = "not_recognised"
SPOOF = "spoof"  # a photo or a screen refused
CANNOT_RECORD = "cannot_record"  # recognised, but the punch could not be written
DECISIONS = (WELCOME, ALREADY, NOT_RECOGNISED, SPOOF, CANNOT_RECORD)


class LoopObserver(Protocol):
    """Told of every frame and decision; must return at once and never raise."""

    def frame(self, seconds_by_stage: Mapping[str, float]) -> None: ...

    def decision(self, kind: str) -> None: ...


class NoObserver:
    """Nobody is watching."""

    def frame(self, seconds_by_stage: Mapping[str, float]) -> None:
        pass

    def decision(self, kind: str) -> None:
        pass


class Observers:
    """Several observers told the same things in turn (the metrics and the webhooks, say); ``None`` ones are left out."""

    def __init__(self, *observers: LoopObserver | None):
        self.observers = tuple(o for o in observers if o is not None)

    def frame(self, seconds_by_stage: Mapping[str, float]) -> None:
        for observer in self.observers:
            observer.frame(seconds_by_stage)

    def decision(self, kind: str) -> None:
        for observer in self.observers:
            observer.decision(kind)
