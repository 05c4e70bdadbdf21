"""The attendance rules: pure functions over one person's appended history.

The store only reads and appends; everything that decides lives here:

- the **work day** a moment counts for (a configurable start hour, such as
  04:00, so a night shift stays one day);
- the **direction** of the next punch (in, then out, within a work day);
- the **cooldown**: a second visit soon after a real punch records nothing;
  measured against real punches at or before now, never against
  corrections, so a correction (even one dated later) cannot swallow a punch;
- **corrections**, which never change or delete a row: a manager can add a
  missing punch, void a wrong one (it stays visible, marked void), or change
  a punch's direction; each carries author, reason and the time it was made;
- **two doors, one visit**: in a fleet, two doors that have not synced yet
  can each punch the same person within the cooldown; the later of the two
  (by time, then door name) is a duplicate and does not count, on every
  member alike (:func:`door_duplicates`);
- **timesheets**: per person and work day, the first IN, the last OUT and the
  time worked summed over IN/OUT pairs; an IN without its OUT is flagged and
  never counted as zero or as midnight.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

IN, OUT = "in", "out"
PUNCH, ADDED, VOID, REDIRECT = "punch", "added", "void", "redirect"  # entry kinds


@dataclass(frozen=True)
class Entry:
    """One appended row. For ``void`` and ``redirect``, ``target`` is the entry
    they correct and ``at`` is when the correction was made."""

    id: int
    employee_id: int
    at: dt.datetime
    kind: str = PUNCH
    direction: str | None = None
    target: int | None = None
    author: str | None = None
    note: str | None = None
    kiosk_id: str | None = None
    distance: float | None = None


@dataclass(frozen=True)
class Counted:
    """A punch as it counts after corrections."""

    entry: Entry  # the punch or added entry itself
    direction: str
    corrections: tuple[Entry, ...] = ()  # the redirects applied to it (and the entry itself when added)

    @property
    def at(self) -> dt.datetime:
        return self.entry.at

    @property
    def corrected(self) -> bool:
        return self.entry.kind == ADDED or bool(self.corrections)


def elapsed(start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Real time between two moments. (Python subtracts datetimes that share
    a zone object as wall-clock times, which is an hour off across a
    daylight-saving change; in UTC it is right.)"""
    return end.astimezone(dt.UTC) - start.astimezone(dt.UTC)


def work_day(at: dt.datetime, zone: dt.tzinfo, day_start: dt.time = dt.time(0)) -> dt.date:
    """The day a moment counts for: local date, minus one before ``day_start``."""
    local = at.astimezone(zone)
    return local.date() - dt.timedelta(days=1) if local.time() < day_start else local.date()


def door_duplicates(entries: list[Entry], cooldown_seconds: float) -> set[int]:
    """Real punches that another door recorded within the cooldown after the
    person's previous counted real punch: the doors had not synced, so one
    visit was punched twice. The earlier stands; ties go to the door whose
    name sorts first, so every member merges alike."""
    voided = {e.target for e in entries if e.kind == VOID}
    real = sorted(
        (e for e in entries if e.kind == PUNCH and e.id not in voided),
        key=lambda e: (e.employee_id, e.at.astimezone(dt.UTC), e.kiosk_id or "", e.id),
    )
    duplicates: set[int] = set()
    kept: Entry | None = None
    for e in real:
        if (
            kept is not None
            and kept.employee_id == e.employee_id
            and kept.kiosk_id != e.kiosk_id
            and elapsed(kept.at, e.at).total_seconds() < cooldown_seconds
        ):
            duplicates.add(e.id)
        else:
            kept = e
    return duplicates


def counted(entries: list[Entry], cooldown_seconds: float = 0.0) -> list[Counted]:
    """Punches and added punches, less the voided ones and the second door's
    punch of a visit (see :func:`door_duplicates`), with their latest
    direction change applied; in time order."""
    voided = {e.target for e in entries if e.kind == VOID} | door_duplicates(entries, cooldown_seconds)
    redirects: dict[int, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: (e.at, e.id)):
        if e.kind == REDIRECT:
            redirects.setdefault(e.target, []).append(e)
    out = []
    for e in entries:
        if e.kind not in (PUNCH, ADDED) or e.id in voided:
            continue
        changes = tuple(redirects.get(e.id, ()))
        out.append(Counted(e, changes[-1].direction if changes else e.direction, changes))
    return sorted(out, key=lambda c: (c.at, c.entry.id))


@dataclass(frozen=True)
class Decision:
    """What a recognised person's visit records: a punch in ``direction``, or
    nothing because of the ``recent`` real punch (for "already recorded at ...")."""

    direction: str | None
    recent: Entry | None = None


def decide(
    entries: list[Entry], now: dt.datetime, cooldown_seconds: float, zone: dt.tzinfo, day_start: dt.time = dt.time(0)
) -> Decision:
    """The rule for a recognised face at ``now``, given the person's history."""
    if now.tzinfo is None:
        raise ValueError("punch times must carry a time zone")
    voided = {e.target for e in entries if e.kind == VOID}
    real = [e for e in entries if e.kind == PUNCH and e.id not in voided and e.at <= now]
    recent = max(real, key=lambda e: (e.at, e.id), default=None)
    if recent is not None and elapsed(recent.at, now).total_seconds() < cooldown_seconds:
        return Decision(None, recent)
    return Decision(next_direction(entries, now, zone, day_start, cooldown_seconds))


def next_direction(
    entries: list[Entry], now: dt.datetime, zone: dt.tzinfo, day_start: dt.time = dt.time(0), cooldown_seconds: float = 0.0
) -> str:
    """IN, unless the person's last counted punch of this work day, at or before now, was an IN."""
    today = work_day(now, zone, day_start)
    before = [c for c in counted(entries, cooldown_seconds) if c.at <= now and work_day(c.at, zone, day_start) == today]
    return OUT if before and before[-1].direction == IN else IN


@dataclass
class DayRecord:
    """One person's work day on the timesheet."""

    employee_id: int
    day: dt.date
    punches: list[Counted] = field(default_factory=list)
    # Worked out by pair_day and timesheet:
    intervals: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list, init=False)
    missing_out: list[dt.datetime] = field(default_factory=list, init=False)  # INs with no OUT after them
    out_without_in: list[dt.datetime] = field(default_factory=list, init=False)
    voided: list[Entry] = field(default_factory=list, init=False)
    expected_start: dt.datetime | None = field(default=None, init=False)

    @property
    def worked(self) -> dt.timedelta:
        return sum((elapsed(a, b) for a, b in self.intervals), dt.timedelta())

    @property
    def first_in(self) -> dt.datetime | None:
        return next((c.at for c in self.punches if c.direction == IN), None)

    @property
    def last_out(self) -> dt.datetime | None:
        return next((c.at for c in reversed(self.punches) if c.direction == OUT), None)

    @property
    def complete(self) -> bool:
        return not self.missing_out and not self.out_without_in

    @property
    def corrections(self) -> list[Entry]:
        """Every manager entry behind this day: added punches, direction changes, voids."""
        found = [c.entry for c in self.punches if c.entry.kind == ADDED]
        found += [r for c in self.punches for r in c.corrections]
        return sorted(found + self.voided, key=lambda e: (e.at, e.id))

    @property
    def late_by(self) -> dt.timedelta | None:
        first = self.first_in
        if self.expected_start is None or first is None or first <= self.expected_start:
            return None
        return elapsed(self.expected_start, first)


def pair_day(employee_id: int, day: dt.date, punches: list[Counted]) -> DayRecord:
    """IN opens, the next OUT closes and counts the time between; an IN
    followed by another IN, or left open, is flagged missing its OUT (and
    counts nothing); an OUT with no open IN is flagged."""
    record = DayRecord(employee_id, day, punches)
    open_in: dt.datetime | None = None
    for c in punches:
        if c.direction == IN:
            if open_in is not None:
                record.missing_out.append(open_in)
            open_in = c.at
        elif open_in is None:
            record.out_without_in.append(c.at)
        else:
            record.intervals.append((open_in, c.at))
            open_in = None
    if open_in is not None:
        record.missing_out.append(open_in)
    return record


def timesheet(
    entries: list[Entry],
    first: dt.date,
    last: dt.date,
    zone: dt.tzinfo,
    day_start: dt.time = dt.time(0),
    expected_start: dict[int, dt.time | None] | None = None,
    cooldown_seconds: float = 0.0,
) -> list[DayRecord]:
    """Day records of everyone in ``entries`` with punches between ``first``
    and ``last`` (work days, inclusive), by person then day. ``expected_start``
    maps people to the local time they are due, for lateness; two doors'
    punches of one visit count once (``cooldown_seconds``)."""
    by_person: dict[int, list[Entry]] = {}
    for e in entries:
        by_person.setdefault(e.employee_id, []).append(e)
    records = []
    for employee_id, history in sorted(by_person.items()):
        by_day: dict[dt.date, list[Counted]] = {}
        for c in counted(history, cooldown_seconds):
            day = work_day(c.at, zone, day_start)
            if first <= day <= last:
                by_day.setdefault(day, []).append(c)
        voided_ids = {e.target for e in history if e.kind == VOID}
        targets = {e.id: e for e in history}
        for day, punches in sorted(by_day.items()):
            record = pair_day(employee_id, day, punches)
            record.voided = [
                v
                for v in history
                if v.kind == VOID and v.target in targets and work_day(targets[v.target].at, zone, day_start) == day
            ]
            due = (expected_start or {}).get(employee_id)
            if due is not None:
                record.expected_start = dt.datetime.combine(day, due, tzinfo=zone)
            records.append(record)
        # Days whose only punches were voided still show, so the void is visible.
        for day in sorted({work_day(targets[t].at, zone, day_start) for t in voided_ids if t in targets} - set(by_day)):
            if first <= day <= last:
                record = DayRecord(employee_id, day)
                record.voided = [v for v in history if v.kind == VOID and work_day(targets[v.target].at, zone, day_start) == day]
                records.append(record)
    return sorted(records, key=lambda r: (r.employee_id, r.day))


def week_totals(records: list[DayRecord]) -> dict[int, dt.timedelta]:
    """Time worked per person over the given day records."""
    totals: dict[int, dt.timedelta] = {}
    for r in records:
        totals[r.employee_id] = totals.get(r.employee_id, dt.timedelta()) + r.worked
    return totals


def absent(
    expected: dict[int, dt.time | None], records: list[DayRecord], day: dt.date, now: dt.datetime, zone: dt.tzinfo
) -> list[int]:
    """People due by now on ``day`` who have no IN that day."""
    arrived = {r.employee_id for r in records if r.day == day and r.first_in is not None}
    return sorted(
        p
        for p, due in expected.items()
        if due is not None and p not in arrived and dt.datetime.combine(day, due, tzinfo=zone) <= now
    )
