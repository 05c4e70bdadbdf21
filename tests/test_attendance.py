"""The attendance rules on hand-made histories: direction, cooldown, work days,
corrections and timesheets, including night shifts and daylight-saving days."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kiosk.attendance import (
    ADDED,
    IN,
    OUT,
    PUNCH,
    REDIRECT,
    VOID,
    Entry,
    absent,
    counted,
    decide,
    door_duplicates,
    next_direction,
    pair_day,
    timesheet,
    week_totals,
    work_day,
)

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC
DAY_START = dt.time(4)


def at(text: str, zone=BERLIN) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone)


class History:
    """Builds entries with increasing ids, like the store does."""

    def __init__(self, person=1):
        self.person, self.entries = person, []

    def add(self, when, kind=PUNCH, direction=None, target=None, note=None, person=None):
        e = Entry(
            len(self.entries) + 1, person or self.person, when, kind, direction, target, "admin" if kind != PUNCH else None, note
        )
        self.entries.append(e)
        return e

    def punch(self, text, direction, zone=BERLIN, person=None):
        return self.add(at(text, zone), PUNCH, direction, person=person)


def test_punches_alternate_in_and_out_within_a_work_day():
    h = History()
    assert next_direction(h.entries, at("2026-03-02 08:00"), BERLIN, DAY_START) == IN
    h.punch("2026-03-02 08:00", IN)
    assert next_direction(h.entries, at("2026-03-02 12:00"), BERLIN, DAY_START) == OUT
    h.punch("2026-03-02 12:00", OUT)
    assert next_direction(h.entries, at("2026-03-02 13:00"), BERLIN, DAY_START) == IN
    h.punch("2026-03-02 13:00", IN)
    # a new work day starts with IN even though the last punch was an IN
    assert next_direction(h.entries, at("2026-03-03 08:00"), BERLIN, DAY_START) == IN


def test_the_cooldown_names_the_earlier_punch_and_then_lets_the_next_through():
    h = History()
    first = h.punch("2026-03-02 08:00", IN)
    soon = decide(h.entries, at("2026-03-02 08:00:40"), 60, BERLIN, DAY_START)
    assert soon.direction is None and soon.recent == first
    later = decide(h.entries, at("2026-03-02 08:01:01"), 60, BERLIN, DAY_START)
    assert later.direction == OUT and later.recent is None


def test_a_future_dated_correction_never_swallows_a_real_punch():
    """The reported case: "Gerhard, today 23:59, out" recorded in the morning, then real visits."""
    h = History()
    h.punch("2026-03-02 08:00", IN)
    h.add(at("2026-03-02 23:59"), ADDED, OUT, note="left late")
    decision = decide(h.entries, at("2026-03-02 12:30"), 60, BERLIN, DAY_START)
    assert decision.direction == OUT  # stored, not "already recorded"
    # and an added punch is never a reason for the cooldown either
    h.add(at("2026-03-02 12:30:10"), ADDED, IN, note="back from lunch")
    assert decide(h.entries, at("2026-03-02 12:30:20"), 60, BERLIN, DAY_START).direction is not None


def test_a_voided_punch_does_not_count_and_stays_visible():
    h = History()
    wrong = h.punch("2026-03-02 08:00", IN)
    h.add(at("2026-03-02 09:00"), VOID, target=wrong.id, note="that was her brother")
    assert decide(h.entries, at("2026-03-02 08:00:30"), 60, BERLIN, DAY_START).direction == IN  # no cooldown from a void punch
    assert counted(h.entries) == []
    [record] = timesheet(h.entries, dt.date(2026, 3, 2), dt.date(2026, 3, 2), BERLIN, DAY_START)
    assert record.worked == dt.timedelta() and [v.target for v in record.voided] == [wrong.id]
    assert record.corrections[0].note == "that was her brother"


def test_a_changed_direction_counts_as_the_new_direction_and_shows_who_changed_it():
    h = History()
    h.punch("2026-03-02 08:00", IN)
    wrong = h.punch("2026-03-02 12:00", IN)  # should have been OUT
    h.add(at("2026-03-03 09:00"), REDIRECT, OUT, target=wrong.id, note="pressed twice")
    [record] = timesheet(h.entries, dt.date(2026, 3, 2), dt.date(2026, 3, 2), BERLIN, DAY_START)
    assert record.worked == dt.timedelta(hours=4) and record.complete
    assert [c.note for c in record.corrections] == ["pressed twice"]


def test_a_night_shift_across_midnight_is_one_work_day():
    h = History()
    h.punch("2026-03-02 22:00", IN)
    h.punch("2026-03-03 03:30", OUT)
    assert work_day(at("2026-03-03 03:30"), BERLIN, DAY_START) == dt.date(2026, 3, 2)
    assert next_direction(h.entries[:1], at("2026-03-03 03:30"), BERLIN, DAY_START) == OUT
    [record] = timesheet(h.entries, dt.date(2026, 3, 1), dt.date(2026, 3, 4), BERLIN, DAY_START)
    assert record.day == dt.date(2026, 3, 2) and record.worked == dt.timedelta(hours=5, minutes=30) and record.complete


def test_a_missing_out_is_flagged_and_never_counted_as_zero_or_midnight():
    h = History()
    h.punch("2026-03-02 08:00", IN)
    h.punch("2026-03-02 12:00", OUT)
    h.punch("2026-03-02 13:00", IN)  # never punched out
    [record] = timesheet(h.entries, dt.date(2026, 3, 2), dt.date(2026, 3, 2), BERLIN, DAY_START)
    assert record.worked == dt.timedelta(hours=4)  # only the closed pair
    assert record.missing_out == [at("2026-03-02 13:00")] and not record.complete
    assert record.first_in == at("2026-03-02 08:00") and record.last_out == at("2026-03-02 12:00")


def test_two_ins_in_a_row_flag_the_first_and_an_out_without_in_is_flagged():
    record = pair_day(
        1,
        dt.date(2026, 3, 2),
        counted(
            [
                Entry(1, 1, at("2026-03-02 07:00"), PUNCH, OUT),
                Entry(2, 1, at("2026-03-02 08:00"), PUNCH, IN),
                Entry(3, 1, at("2026-03-02 09:00"), PUNCH, IN),
                Entry(4, 1, at("2026-03-02 17:00"), PUNCH, OUT),
            ]
        ),
    )
    assert record.out_without_in == [at("2026-03-02 07:00")] and record.missing_out == [at("2026-03-02 08:00")]
    assert record.worked == dt.timedelta(hours=8)


@pytest.mark.parametrize(
    "day,hours",
    [
        # Spring forward: 02:00 -> 03:00 on the last Sunday of March; 22:00-06:00 is 7 hours.
        ("2026-03-28", 7),
        # Fall back: 03:00 -> 02:00 on the last Sunday of October; 22:00-06:00 is 9 hours.
        ("2026-10-24", 9),
    ],
)
def test_daylight_saving_nights_count_the_hours_actually_worked(day, hours):
    start = dt.date.fromisoformat(day)
    h = History()
    h.add(dt.datetime.combine(start, dt.time(22), tzinfo=BERLIN), PUNCH, IN)
    h.add(dt.datetime.combine(start + dt.timedelta(days=1), dt.time(6), tzinfo=BERLIN), PUNCH, OUT)
    # the shift ends after 04:00, so it needs a later day start to stay one day
    [record] = timesheet(h.entries, start, start, BERLIN, dt.time(10))
    assert record.worked == dt.timedelta(hours=hours)


def test_the_day_boundary_follows_local_time_across_a_daylight_saving_change():
    # 03:30 local on the morning of the change belongs to the previous work day either way
    assert work_day(dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BERLIN, DAY_START) == dt.date(2026, 10, 24)  # 02:30 CET
    assert work_day(dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC), BERLIN, DAY_START) == dt.date(2026, 3, 28)  # 03:30 CEST


def test_week_totals_on_a_hand_computed_history():
    h = History()
    week = [
        ("2026-03-02", "08:00", "16:30"),
        ("2026-03-03", "09:15", "17:45"),
        ("2026-03-04", "08:00", "12:00"),
        ("2026-03-05", "07:30", "15:00"),
        ("2026-03-06", "08:00", "14:20"),
    ]
    for day, start, end in week:
        h.punch(f"{day} {start}", IN)
        h.punch(f"{day} {end}", OUT)
    h.punch("2026-03-05 12:00", OUT, person=2)  # someone else
    h.punch("2026-03-04 10:00", IN, person=2)
    h.punch("2026-03-04 14:30", OUT, person=2)
    records = timesheet(h.entries, dt.date(2026, 3, 2), dt.date(2026, 3, 8), BERLIN, DAY_START)
    # 8:30 + 8:30 + 4:00 + 7:30 + 6:20 = 34:50
    assert week_totals(records) == {1: dt.timedelta(hours=34, minutes=50), 2: dt.timedelta(hours=4, minutes=30)}


def test_late_and_not_arrived():
    h = History()
    h.punch("2026-03-02 08:12", IN, person=1)
    h.punch("2026-03-02 07:55", IN, person=2)
    due = {1: dt.time(8), 2: dt.time(8), 3: dt.time(9), 4: None}
    records = timesheet(h.entries, dt.date(2026, 3, 2), dt.date(2026, 3, 2), BERLIN, DAY_START, due)
    late = {r.employee_id: r.late_by for r in records}
    assert late == {1: dt.timedelta(minutes=12), 2: None}
    assert absent(due, records, dt.date(2026, 3, 2), at("2026-03-02 08:30"), BERLIN) == []  # person 3 is due at 09:00
    assert absent(due, records, dt.date(2026, 3, 2), at("2026-03-02 09:05"), BERLIN) == [3]


def test_times_without_a_zone_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        decide([], dt.datetime(2026, 3, 2, 8), 60, BERLIN)


def door(entry_id, person, when, kiosk, direction=IN, kind=PUNCH, target=None):
    return Entry(entry_id, person, at(when), kind, direction, target, kiosk_id=kiosk)


def test_two_unsynced_doors_punching_one_visit_count_once_and_the_earlier_stands():
    entries = [
        door(1, 1, "2026-03-02 08:00:10", "front"),
        door(2, 1, "2026-03-02 08:00:40", "back"),
        door(3, 1, "2026-03-02 08:02:00", "back"),
    ]  # past the cooldown: a visit of its own
    assert door_duplicates(entries, 60) == {2}
    assert [c.entry.id for c in counted(entries, 60)] == [1, 3]
    assert [c.entry.id for c in counted(entries)] == [1, 2, 3]  # standalone: no merging
    [record] = timesheet(entries, dt.date(2026, 3, 2), dt.date(2026, 3, 2), BERLIN, DAY_START, cooldown_seconds=60)
    assert [c.entry.id for c in record.punches] == [1, 3]


def test_door_merging_is_the_same_whatever_order_a_member_stored_them_in():
    a = door(7, 1, "2026-03-02 08:00:10", "back")
    b = door(3, 1, "2026-03-02 08:00:10", "front")  # the same second: the door named first stands
    assert door_duplicates([a, b], 60) == door_duplicates([b, a], 60) == {3}


def test_door_merging_keeps_other_people_same_door_punches_and_voided_ones_apart():
    entries = [
        door(1, 1, "2026-03-02 08:00:00", "front"),
        door(2, 2, "2026-03-02 08:00:05", "back"),  # someone else
        door(3, 1, "2026-03-02 08:00:20", "front"),
    ]  # the same door: its own cooldown decided, not a merge
    assert door_duplicates(entries, 60) == set()
    voided = [
        door(1, 1, "2026-03-02 08:00:00", "front"),
        door(2, 1, "2026-03-02 08:00:30", "back"),
        door(3, 1, "2026-03-02 09:00:00", "admin", None, VOID, target=1),
    ]
    assert door_duplicates(voided, 60) == set()  # the void leaves the other door's punch standing
    assert [c.entry.id for c in counted(voided, 60)] == [2]


def test_the_next_direction_ignores_a_second_doors_punch_of_the_same_visit():
    # Out at the front door; the back door, not yet synced, saw them leave too and took it for an IN.
    entries = [
        door(1, 1, "2026-03-02 08:00:00", "front"),
        door(2, 1, "2026-03-02 17:00:00", "front", OUT),
        door(3, 1, "2026-03-02 17:00:20", "back", IN),
    ]
    assert next_direction(entries, at("2026-03-02 18:00"), BERLIN, DAY_START, cooldown_seconds=60) == IN
    assert decide(entries, at("2026-03-02 18:00"), 60, BERLIN, DAY_START).direction == IN
    assert next_direction(entries, at("2026-03-02 18:00"), BERLIN, DAY_START) == OUT  # unmerged, the stray IN would count
