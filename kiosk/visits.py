"""Decisions per visit, not per frame: the rules that turn a stream of frame
results into "welcome Alice", "not recognised" or guidance.

A *visit* starts when a face appears and ends when no face has been seen for
``gap_seconds``. Two ways to decide within it:

- **fused** (the default): every usable face (good, or fair at a lower
  weight) adds its embedding to the visit's evidence, and the running mean
  is judged against the gallery after each frame. A person is named once
  the evidence is worth ``evidence_frames`` good frames and the judge
  accepts the mean; the evidence then starts afresh, so a second person
  stepping in without a gap is named on their own evidence. "Not
  recognised" comes once the evidence is worth ``decide_frames`` good frames
  and still names nobody. Averaging the embeddings of several frames cancels
  much of what differs between them (pose, blur, light), which is why it
  beats voting on single frames.
- **votes** (release 2026.11, kept to compare against): a person is named
  when ``needed`` of the last ``window`` good frames were accepted as them;
  "not recognised" after a full window of good frames matching nobody, or
  ``patience`` good frames without a name.

In both, a face the gate refuses (too small, turned, blurred, dark) gives
guidance and never counts towards "not recognised"; "not recognised" is
decided at most once per visit, and a person can still be named after it.

Pure functions over a frozen state, so the rules are tested on hand-made
inputs; the gallery comes in as a ``judge`` (see :class:`Opinion`), and
kiosk.visit_decision feeds the rules and acts on the events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

GOOD, FAIR = "good", "fair"  # the quality tiers of kiosk.quality


@dataclass(frozen=True)
class Seen:
    """What the rules need of one frame."""

    face: bool  # any face in the picture
    tier: str | None = None  # GOOD or FAIR when the face is usable (None: refused by the gate)
    embedding: np.ndarray | None = field(default=None, compare=False)  # unit vector of a usable face
    person: int | None = None  # who this frame alone was accepted as (the votes rule)
    distance: float | None = None
    guidance: str | None = None  # a quality reason code to show, if any

    @property
    def good(self) -> bool:
        return self.tier == GOOD


@dataclass(frozen=True)
class Opinion:
    """The gallery's answer for an embedding: the nearest person, how far,
    and whether that is close enough, and clear enough of the runner-up, to
    name them at this tier."""

    person: int | None
    distance: float | None
    accepted: bool
    margin: float = float("inf")  # to the runner-up


# (fused unit embedding, tier of the evidence) -> the gallery's opinion
Judge = Callable[[np.ndarray, str], Opinion]


@dataclass(frozen=True)
class VisitSettings:
    mode: str = "fused"  # or "votes"
    gap_seconds: float = 1.5  # no face this long ends a visit
    evidence_frames: float = 2.0  # fused: evidence, in good frames, before a name
    decide_frames: float = 5.0  # fused: evidence, in good frames, before "not recognised"
    fair_weight: float = 0.5  # fused: what a fair face's embedding counts for, against a good one's 1
    needed: int = 3  # votes: agreeing good frames ...
    window: int = 5  # ... of the last n

    @property
    def patience(self) -> int:
        """Votes: good frames without a name before the person is told "not recognised"."""
        return 3 * self.window


@dataclass(frozen=True)
class Evidence:
    """The visit's usable faces since it started or last named someone."""

    total: np.ndarray | None = field(default=None, compare=False)  # weighted sum of embeddings
    weight: float = 0.0  # in good frames
    frames: int = 0
    good: bool = False  # at least one good face among them

    def add(self, seen: Seen, settings: VisitSettings) -> Evidence:
        w = 1.0 if seen.good else settings.fair_weight
        total = w * seen.embedding if self.total is None else self.total + w * seen.embedding
        return Evidence(total, self.weight + w, self.frames + 1, self.good or seen.good)

    @property
    def tier(self) -> str:
        return GOOD if self.good else FAIR

    def mean(self) -> np.ndarray:
        """The fused embedding: the weighted mean, back on the unit sphere."""
        return (self.total / max(float(np.linalg.norm(self.total)), 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Visit:
    """The current visit; ``None`` votes are good frames that matched nobody."""

    started: float | None = None  # None: nobody at the kiosk
    last_face: float = 0.0
    evidence: Evidence = field(default_factory=Evidence)
    votes: tuple[int | None, ...] = ()
    named: frozenset[int] = field(default_factory=frozenset)
    unknown_decided: bool = False
    undecided: int = 0  # votes: good frames since the visit started or last named someone

    @property
    def active(self) -> bool:
        return self.started is not None


@dataclass(frozen=True)
class Recognised:
    person: int
    distance: float | None
    evidence: Evidence | None = field(default=None, compare=False)  # what named them (fused), for learning
    margin: float = field(default=float("inf"), compare=False)  # to the runner-up (fused)


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


def step(visit: Visit, seen: Seen, now: float, settings: VisitSettings, judge: Judge | None = None) -> tuple[Visit, list[Event]]:
    """The next state and what happened, for one frame seen at ``now`` (monotonic seconds)."""
    events: list[Event] = []
    if visit.active and now - visit.last_face > settings.gap_seconds:
        visit, events = Visit(), [VisitEnded()]
    if not seen.face:
        return visit, events
    if not visit.active:
        visit = Visit(started=now)
    visit = replace(visit, last_face=now)
    if seen.guidance and not seen.good:  # a fair face still counts (fused), and the guidance may make the next one good
        events.append(Guidance(seen.guidance))
    if settings.mode == "votes":
        return _vote(visit, seen, settings, events)
    if seen.tier is None or seen.embedding is None:
        return visit, events
    return _fuse(visit, seen, settings, judge, events)


def _fuse(visit: Visit, seen: Seen, settings: VisitSettings, judge: Judge, events: list[Event]) -> tuple[Visit, list[Event]]:
    evidence = visit.evidence.add(seen, settings)
    visit = replace(visit, evidence=evidence)
    if evidence.weight + 1e-9 < settings.evidence_frames:
        return visit, events
    opinion = judge(evidence.mean(), evidence.tier)
    if opinion.accepted and opinion.person is not None and opinion.person not in visit.named:
        # Named once per visit; the evidence restarts so the next person needs their own.
        named = replace(visit, named=visit.named | {opinion.person}, evidence=Evidence())
        return named, events + [Recognised(opinion.person, opinion.distance, evidence, opinion.margin)]
    if (
        not opinion.accepted
        and not visit.named
        and not visit.unknown_decided
        and evidence.weight + 1e-9 >= settings.decide_frames
    ):
        return replace(visit, unknown_decided=True), events + [NotRecognised()]
    return visit, events


def _vote(visit: Visit, seen: Seen, settings: VisitSettings, events: list[Event]) -> tuple[Visit, list[Event]]:
    if not seen.good:
        return visit, events
    votes = (visit.votes + (seen.person,))[-settings.window :]
    visit = replace(visit, votes=votes, undecided=visit.undecided + 1)
    if seen.person is not None and votes.count(seen.person) >= settings.needed and seen.person not in visit.named:
        return (
            replace(visit, named=visit.named | {seen.person}, votes=(), undecided=0),
            events + [Recognised(seen.person, seen.distance)],
        )
    nobody = len(votes) == settings.window and all(v is None for v in votes)
    if (nobody or (not visit.named and visit.undecided >= settings.patience)) and not visit.unknown_decided:
        return replace(visit, unknown_decided=True), events + [NotRecognised()]
    return visit, events


def idle(visit: Visit, now: float, settings: VisitSettings) -> tuple[Visit, list[Event]]:
    """Time passing without a frame (the camera is slow or stopped)."""
    if visit.active and now - visit.last_face > settings.gap_seconds:
        return Visit(), [VisitEnded()]
    return visit, []
