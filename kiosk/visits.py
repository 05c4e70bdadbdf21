"""Decisions per visit, not per frame: the rules that turn a stream of frame
results into "welcome Alice", "not recognised" or guidance.

A *visit* starts when a face appears and ends when no face has been seen for
``gap_seconds``. Only good-quality faces vote (see :mod:`kiosk.quality`); a
face that is too small, turned or blurred shows guidance and never counts
towards "not recognised". Within a visit:

- a person is recognised when ``needed`` of the last ``window`` good frames
  agree on them; a visit names each person once (a second person stepping
  in without a gap is named too);
- "not recognised" needs a full window of good frames that match nobody, or
  ``patience`` good frames without anyone being named (votes split between
  a person and nobody: the face is too far from the stored photo to be sure),
  and is decided at most once per visit. A person can still be named after
  it, when enough of their frames agree.

Pure functions over a frozen state, so the rules are tested on hand-made
frame results; kiosk.visit_decision feeds them and acts on the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Seen:
    """What the vote needs of one frame."""

    face: bool  # any face in the picture
    good: bool = False  # the face passed the strict gate, so it votes
    person: int | None = None  # who it was accepted as (None: nobody)
    distance: float | None = None
    guidance: str | None = None  # a quality reason code to show, if any


@dataclass(frozen=True)
class VoteSettings:
    needed: int = 3
    window: int = 5
    gap_seconds: float = 1.5  # no face for this long ends a visit

    @property
    def patience(self) -> int:
        """Good frames without a name before the person is told "not recognised"."""
        return 3 * self.window


@dataclass(frozen=True)
class Visit:
    """Votes of the current visit; ``None`` entries are good frames that matched nobody."""

    started: float | None = None  # None: nobody at the kiosk
    last_face: float = 0.0
    votes: tuple[int | None, ...] = ()
    named: frozenset[int] = field(default_factory=frozenset)
    unknown_decided: bool = False
    undecided: int = 0  # good frames since the visit started or last named someone

    @property
    def active(self) -> bool:
        return self.started is not None


@dataclass(frozen=True)
class Recognised:
    person: int
    distance: float | None


@dataclass(frozen=True)
class NotRecognised:
    pass


@dataclass(frozen=True)
class Guidance:
    reason: str


@dataclass(frozen=True)
class VisitEnded:
    pass


Event = Recognised | NotRecognised | Guidance | VisitEnded


def step(visit: Visit, seen: Seen, now: float, settings: VoteSettings) -> tuple[Visit, list[Event]]:
    """The next state and what happened, for one frame seen at ``now`` (monotonic seconds)."""
    events: list[Event] = []
    if visit.active and now - visit.last_face > settings.gap_seconds:
        visit, events = Visit(), [VisitEnded()]
    if not seen.face:
        return visit, events
    if not visit.active:
        visit = Visit(started=now)
    visit = replace(visit, last_face=now)
    if not seen.good:
        return visit, events + ([Guidance(seen.guidance)] if seen.guidance else [])
    votes = (visit.votes + (seen.person,))[-settings.window :]
    visit = replace(visit, votes=votes, undecided=visit.undecided + 1)
    if seen.person is not None and votes.count(seen.person) >= settings.needed and seen.person not in visit.named:
        # Named once per visit; the window restarts so the next person needs votes of their own.
        return (
            replace(visit, named=visit.named | {seen.person}, votes=(), undecided=0),
            events + [Recognised(seen.person, seen.distance)],
        )
    nobody = len(votes) == settings.window and all(v is None for v in votes)
    if (nobody or (not visit.named and visit.undecided >= settings.patience)) and not visit.unknown_decided:
        return replace(visit, unknown_decided=True), events + [NotRecognised()]
    return visit, events


def idle(visit: Visit, now: float, settings: VoteSettings) -> tuple[Visit, list[Event]]:
    """Time passing without a frame (the camera is slow or stopped)."""
    if visit.active and now - visit.last_face > settings.gap_seconds:
        return Visit(), [VisitEnded()]
    return visit, []
