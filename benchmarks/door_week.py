"""A working week at the door: who is welcomed, who is named wrongly, who is
told "not recognised" and who gets no answer, day after day, through the real
loop at the camera's rate.

    .venv/bin/python benchmarks/door_week.py [--profiles release,candidate] [--days 5] [--limit N] [--strangers 25]
    .venv/bin/python benchmarks/door_week.py --quick      # 6 staff, 2 strangers a day, 2 days: about a minute

Staff are the LFW DevTest people (``peopleDevTest.txt``, never trained on)
with at least 5 photos, each enrolled from photo 1 as a shop enrols (the
quality gate, then confirmed past any look-alike warning, as a manager does
on the admin page); people whose photo 1 the gate refuses are skipped and
counted. Every working day each of them walks up once. A walk-up is made by
``tests/walkup.py`` from 2 of the person's *other* photos, a different pair
each day (a seeded shuffle of their photos): far away and small, looking
aside on the way in (the second photo), a blurred step, then close and
steady for a second, then gone. Strangers, DevTest people with a single
photo who are never enrolled, walk up the same way (their one photo serving
for both parts), none of them twice in the week, in among the staff in a
seeded order.

Each walk-up is played to a fresh :class:`kiosk.loop.KioskLoop` built as
``kiosk run`` builds it (``build_loop`` with the application, the recogniser
and a store), reading a replay camera at ``--fps``: a pipeline that falls
behind skips frames as at the door. By default the camera runs on camera
time (:class:`CameraTimeReplay`): the loop's clock advances by the frame
interval and by the CPU time the loop spends, so what the kiosk decides does
not depend on what else the shared machine is doing (on the wall clock, a
load of 5 on 2 cores made the loop skip 40% of the frames), and nobody waits
for the camera. ``--pace real`` plays the frames on the wall clock instead
(``time_to_welcome.py``'s paced replay). The screen is watched to classify
the walk-up: welcomed as the right person, welcomed as someone else (the
screen names another person), "not recognised", or no answer at all (only
guidance or the idle prompt). A later welcome beats an earlier "not
recognised", and any wrong name makes the walk-up wrong. The wait is from the
first usable frame (good or fair by the release gate) to the welcome.

Settings profiles (``PROFILES`` below: overrides per config section, applied
over this checkout's defaults with pydantic) run on the same walk-ups in the
same run (all of them unless ``--profiles`` names some): ``release``, the
baseline (release 2026.11's vote, nothing learnt), ``candidate``, today's
defaults, and any others listed there. Each has a store of its own that lasts
the whole week, since what a kiosk learns at the door is kept in its store.
The profiles' kiosks watch each walk-up side by side, each in a thread of
its own (``--take-turns``: one after the other), so a busy machine slows
them alike. The attendance clock moves to the next working day between
days, so the cooldown never hides a welcome.

A walk-up costs each profile about 0.9 s of CPU on one thread of this
machine, so the default week, all 125 eligible staff (``--limit`` draws
fewer by a seeded draw) and 25 strangers a day, 750 walk-ups, costs about
10 minutes of one core per profile (three profiles side by side: 41 minutes
on the wall clock of this 2-core machine under a load of 6, 30 of CPU). On
the wall clock (``--pace real``) every walk-up takes its length, 2.4 s, per
profile when they take turns. A run of the default size writes
``benchmarks/results/door_week.json`` with the commit it ran on; other
sizes write only to ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.time_to_welcome import PacedReplay, Watch  # noqa: E402
from kiosk.application import Application  # noqa: E402
from kiosk.composition import build_encoder, build_loop, recognizer  # noqa: E402
from kiosk.config import BUNDLED_MODELS, Config, QualitySettings, config_from_dict  # noqa: E402
from kiosk.enrollment import EnrollmentError, make_reference, read_photo  # noqa: E402
from kiosk.quality import FAIR, GOOD  # noqa: E402
from kiosk.store import Store  # noqa: E402
from tests.walkup import EMPTY, walk_up  # noqa: E402

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
RESULTS = Path(__file__).resolve().parent / "results" / "door_week.json"

# Named settings to compare, as {section: {key: value}} over this checkout's defaults (validated
# by kiosk.config, so a misspelt key fails at once). Adding a profile is one line here.
PROFILES: dict[str, dict[str, dict]] = {
    # The baseline: release 2026.11 as shipped, its k-of-n vote on good frames and nothing learnt.
    # When the defaults change again, pin here whatever the release still does differently.
    "release": {"recognition": {"decide_by": "votes", "learn_from_visits": False}},  # votes never use the fused table
    # This checkout's defaults (fused evidence, templates learnt at the door, each person's nearest picture): the next release.
    "candidate": {},
    # The same, matching each person's mean picture instead of the nearest (issue 22 asks which is better).
    "candidate-mean": {"recognition": {"match_templates": "mean"}},
}

# What the benchmark itself needs of every profile: the model it names, and a clock of its own (below).
BASE = {"model": {"bundled": "default"}, "liveness": {"mode": "off"}}  # the walk-ups are flat photos

MIN_PHOTOS = 5  # staff: DevTest people with at least this many photos
STAFF, STRANGERS, DAYS = None, 25, 5  # the default run: every eligible person, 125 strangers in the week
FIRST_MONDAY = dt.date(2026, 3, 2)
ARRIVALS = dt.time(8, 0)
OUTCOMES = ("right", "wrong", "not recognised", "no answer")
STRANGER_OUTCOMES = ("welcomed", "not recognised", "no answer")


@dataclass(frozen=True)
class WalkUp:
    """One person walking up once: ``frontal`` gives the far, blurred and close frames, ``turned`` the way in."""

    day: int
    person: str
    stranger: bool
    frontal: Path
    turned: Path

    @property
    def name(self) -> str:
        return self.person.replace("_", " ")


@dataclass
class Seen:
    """What one walk-up's frames offer, by the release gate (the same for every profile)."""

    frames: int
    first_usable: int | None  # index of the first good or fair frame
    first_good: int | None
    good: int  # frames (a repeated frame counts each time it is shown)
    fair: int
    refused: collections.Counter  # the gate's reasons for faces it refused outright
    good_frames: list[int]  # indices of the distinct good frames


@dataclass
class Result:
    """One walk-up as one profile's kiosk answered it."""

    walkup: WalkUp
    seen: Seen
    outcome: str
    greeted: list[str]  # the titles of every welcome or "already" screen
    wait_ms: float | None = None  # first usable frame -> the right welcome
    wait_good_ms: float | None = None  # first good frame -> the right welcome
    dropped: int = 0  # frames the loop never read because it was behind
    why: str | None = None  # for staff who were not welcomed: what the frames say


def devtest(lfw: Path, people_file: str = "peopleDevTest.txt") -> dict[str, int]:
    """DevTest people (or another LFW people file's) and how many photos each has."""
    counts = {}
    for line in (lfw / people_file).read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 2:
            counts[parts[0]] = int(parts[1])
    return counts


def photo(lfw: Path, person: str, number: int) -> Path:
    return lfw / "images_deepfunneled" / person / f"{person}_{number:04d}.jpg"


def choose_staff(counts: dict[str, int], limit: int | None, seed: int) -> list[str]:
    """People with at least MIN_PHOTOS photos; ``limit`` of them by a seeded draw (a quick run is not all A-names)."""
    eligible = sorted(p for p, n in counts.items() if n >= MIN_PHOTOS)
    if limit is not None and limit < len(eligible):
        eligible = sorted(random.Random(f"staff:{seed}").sample(eligible, limit))
    return eligible


def day_photos(person: str, count: int, day: int, seed: int) -> tuple[int, int]:
    """Photo numbers (frontal, turned) for a day: two of photos 2..count, never
    photo 1 (the enrolment photo). Each frontal photo comes round in turn, and
    when it comes round again it pairs with another photo, so days differ."""
    others = list(range(2, count + 1))
    random.Random(f"photos:{seed}:{person}").shuffle(others)
    n = len(others)
    step = 1 + (day // n) % (n - 1)
    return others[day % n], others[(day + step) % n]


def plan_week(lfw: Path, staff: list[str], counts: dict[str, int], days: int, strangers: int, seed: int) -> list[list[WalkUp]]:
    """Each day's walk-ups in order: every staff member once and ``strangers``
    one-photo people (nobody twice in the week), shuffled by a seeded draw."""
    pool = sorted(p for p, n in counts.items() if n == 1)
    random.Random(f"strangers:{seed}").shuffle(pool)
    if strangers * days > len(pool):
        raise SystemExit(f"only {len(pool)} one-photo people: at most {len(pool) // days} strangers a day for {days} days")
    week = []
    for day in range(days):
        walkups = []
        for person in staff:
            frontal, turned = day_photos(person, counts[person], day, seed)
            walkups.append(WalkUp(day, person, False, photo(lfw, person, frontal), photo(lfw, person, turned)))
        for person in pool[day * strangers : (day + 1) * strangers]:
            walkups.append(WalkUp(day, person, True, photo(lfw, person, 1), photo(lfw, person, 1)))
        random.Random(f"order:{seed}:{day}").shuffle(walkups)
        week.append(walkups)
    return week


def frames_of(walkup: WalkUp, fps: float) -> list[np.ndarray]:
    """The camera's frames: the walk-up, then a fifth of a second of nobody (gone)."""
    frontal, turned = read_photo(walkup.frontal), read_photo(walkup.turned)
    return walk_up(frontal, turned) + [EMPTY] * max(1, round(fps / 5))


def inspect(encoder, frames: list[np.ndarray]) -> Seen:
    """The release gate on every frame (repeated frames are checked once)."""
    verdicts: dict[int, object] = {}
    first_usable = first_good = None
    good = fair = 0
    refused, good_frames = collections.Counter(), []
    for i, frame in enumerate(frames):
        q = verdicts.get(id(frame))
        if q is None:
            q = verdicts[id(frame)] = encoder.check(frame)
            if q.tier == GOOD:
                good_frames.append(i)
        if q.ok and first_usable is None:
            first_usable = i
        if q.tier == GOOD:
            good += 1
            first_good = i if first_good is None else first_good
        elif q.tier == FAIR:
            fair += 1
        elif q.face is not None:
            refused[q.reason] += 1
    return Seen(len(frames), first_usable, first_good, good, fair, refused, good_frames)


class CameraTimeReplay:
    """A replay camera on camera time instead of the wall clock: frame ``i``
    is taken at ``i / fps``, and the loop's clock runs on from the frame it
    is working on by the CPU time its thread has spent since reading it. A
    frame that costs more than a frame interval makes the camera move on to
    its newest frame, as at the door, whatever else the machine is doing;
    waiting for the next frame costs nothing, so a walk-up takes its
    processing time, not its length. (Time blocked on the disk, such as the
    punch's fsync, is not counted: a few milliseconds once a visit.)"""

    name = "replay:camera-time"

    def __init__(self, frames, fps: float):
        self.frames, self.interval = list(frames), 1.0 / fps
        self.taken: list[float] = []  # camera time each frame was read (a skipped one: when the next was)
        self.reads = 0
        self.now = 0.0  # camera time the current frame was read
        self.mark: float | None = None  # the reading thread's CPU time then

    def monotonic(self) -> float:
        # Called by the loop's own thread (the pump, the visit rules, the screen), so thread_time is its work.
        return self.now if self.mark is None else self.now + time.thread_time() - self.mark

    def read(self):
        if len(self.taken) == len(self.frames):
            return None
        # Busy with the last frame until now, or idle until the camera's next frame.
        self.now = max(self.monotonic(), len(self.taken) * self.interval)
        index = max(len(self.taken), min(len(self.frames) - 1, int(self.now / self.interval)))
        self.taken += [self.now] * (index + 1 - len(self.taken))
        self.reads += 1
        self.mark = time.thread_time()
        return self.frames[index]

    def due(self, index: int) -> float:
        return index * self.interval

    def close(self):
        pass


class Clock:
    """The attendance clock: a working day's morning, a few seconds later for each walk-up."""

    def __init__(self, zone: dt.tzinfo):
        self.zone, self.day, self.walkup = zone, FIRST_MONDAY, 0

    def start_day(self, day: int) -> None:
        weeks, weekday = divmod(day, 5)  # working days only: the week goes on after a weekend
        self.day, self.walkup = FIRST_MONDAY + dt.timedelta(weeks=weeks, days=weekday), 0

    def next_walkup(self) -> None:
        self.walkup += 1

    def __call__(self) -> dt.datetime:
        return dt.datetime.combine(self.day, ARRIVALS, tzinfo=self.zone) + dt.timedelta(seconds=10 * self.walkup)


def profile_config(name: str, overrides: dict, threads: int) -> Config:
    """The defaults with BASE and the profile's overrides, validated as a config file would be."""
    data: dict[str, dict] = {}
    for layer in (BASE, {"model": {"threads": threads}}, overrides):
        for section, values in layer.items():
            data.setdefault(section, {}).update(values)
    return config_from_dict(data, f"profile {name}")


@dataclass
class Door:
    """One profile's kiosk for the whole week: its config, store and application."""

    name: str
    config: Config
    app: Application
    enrolment_refused: list[str] = field(default_factory=list)
    lookalike_warnings: int = 0
    results: list[Result] = field(default_factory=list)
    templates: list[int] = field(default_factory=list)  # pictures learnt at the door, at the end of each day

    @classmethod
    def open(cls, name: str, overrides: dict, folder: Path, clock: Clock, threads: int) -> Door:
        config = profile_config(name, overrides, threads)
        store = Store(folder / f"{name}.db")
        # As `kiosk run` builds it (composition.application), with the benchmark's clock.
        app = Application(store, recognizer(config), config.attendance, "door", clock=clock)
        return cls(name, config, app)

    def enrol(self, lfw: Path, staff: list[str]) -> None:
        for person in staff:
            try:
                ref = make_reference(self.app.encoder, read_photo(photo(lfw, person, 1)))
            except EnrollmentError:
                self.enrolment_refused.append(person)
                continue
            self.lookalike_warnings += bool(self.app.lookalikes(ref))
            self.app.enrol(person.replace("_", " "), ref, force=True)  # a manager confirms past the warning

    def walk(self, walkup: WalkUp, frames: list[np.ndarray], seen: Seen, fps: float, pace: str) -> Result:
        """One walk-up through a fresh loop of this kiosk; ``pace``: "camera" (camera time) or "real" (the wall clock)."""
        if pace == "camera":
            camera = CameraTimeReplay(frames, fps)
            watch = Watch(camera.monotonic)
            loop = build_loop(self.config, self.app, watch, lambda: camera, monotonic=camera.monotonic)
        else:
            camera, watch = PacedReplay(frames, fps), Watch()
            loop = build_loop(self.config, self.app, watch, lambda: camera)
        loop.run()
        if loop.error:  # the loop logs and stops on a failure; here it must not pass for "no answer"
            raise RuntimeError(f"profile {self.name}: the loop stopped: {loop.error}")
        result = classify(walkup, watch.outcomes, camera, seen)
        result.dropped = len(frames) - camera.reads
        if result.outcome in ("not recognised", "no answer") and not walkup.stranger:
            result.why = self.diagnose(walkup, frames, seen)
        self.results.append(result)
        return result

    def count_templates(self) -> None:
        self.templates.append(sum(len(self.app.templates.of(e.id)) for e in self.app.employees()))

    def diagnose(self, walkup: WalkUp, frames: list[np.ndarray], seen: Seen) -> str:
        """Why a staff member was not welcomed, from each distinct good frame
        (by the release gate) against the gallery as it stood: no good frame,
        someone else nearest, the right person nearest but beyond the threshold
        or the margin, or accepted on some frames but too few to be named."""
        if seen.first_usable is None:
            return "no usable frame"
        if seen.good == 0:
            return "fair frames only"
        gallery = self.app.gallery()
        nearest = over = margin = accepted = 0
        for index in seen.good_frames:
            r = self.app.identify(frames[index], gallery)
            if r.match is None or r.name != walkup.name:
                continue
            nearest += 1
            if r.accepted:
                accepted += 1
            elif r.match.distance > r.threshold:
                over += 1
            else:
                margin += 1
        if nearest == 0:
            return "someone else nearest"
        if accepted:
            return "accepted on too few frames"
        return "right person nearest, beyond the threshold" if over >= margin else "right person nearest, beyond the margin"


def classify(walkup: WalkUp, outcomes: list, camera, seen: Seen) -> Result:
    """The walk-up's outcome from the screens it showed (every welcome, "already" and "not recognised")."""
    greetings = [(at, screen.title) for at, screen in outcomes if screen.state in ("welcome", "already")]
    unknown = any(screen.state == "unknown" for _, screen in outcomes)
    titles = [title for _, title in greetings]
    if walkup.stranger:
        outcome = "welcomed" if greetings else "not recognised" if unknown else "no answer"
        return Result(walkup, seen, outcome, titles)
    mine = re.compile(rf"(^|\W){re.escape(walkup.name)}($|\W)")
    right = [at for at, title in greetings if mine.search(title)]
    if len(right) < len(greetings):
        why = "someone else named" + (" (the right person too)" if right else "")
        return Result(walkup, seen, "wrong", titles, why=why)
    if not right:
        return Result(walkup, seen, "not recognised" if unknown else "no answer", titles)

    def since(index: int | None) -> float | None:
        # From when the camera took the frame, so time spent behind on earlier frames counts too.
        return None if index is None or index >= len(camera.taken) else (right[0] - camera.due(index)) * 1000

    return Result(walkup, seen, "right", titles, since(seen.first_usable), since(seen.first_good))


def code_version() -> dict:
    """The commit the kiosk code came from, and whether kiosk/ differs from it (None outside a git checkout)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)

    commit = git("rev-parse", "--short", "HEAD")
    if commit.returncode != 0:
        return {"commit": None, "kiosk_differs_from_commit": None}
    return {
        "commit": commit.stdout.strip(),
        "kiosk_differs_from_commit": git("diff", "--quiet", "HEAD", "--", "kiosk").returncode != 0,
    }


def percent(count: int, total: int) -> float | None:
    return round(100 * count / total, 1) if total else None


def waits(values: list[float | None]) -> dict:
    ms = [v for v in values if v is not None]
    if not ms:
        return {"n": 0, "median_ms": None, "p90_ms": None}
    return {"n": len(ms), "median_ms": round(float(np.median(ms))), "p90_ms": round(float(np.percentile(ms, 90)))}


def tally(results: list[Result]) -> dict:
    """Counts and percentages of one day (or the week) of one profile."""
    staff = [r for r in results if not r.walkup.stranger]
    strangers = [r for r in results if r.walkup.stranger]
    outcomes = collections.Counter(r.outcome for r in staff)
    visitors = collections.Counter(r.outcome for r in strangers)
    right = [r for r in staff if r.outcome == "right"]
    return {
        "staff": len(staff),
        **{k: {"count": outcomes[k], "percent": percent(outcomes[k], len(staff))} for k in OUTCOMES},
        "strangers": len(strangers),
        **{f"strangers {k}": {"count": visitors[k], "percent": percent(visitors[k], len(strangers))} for k in STRANGER_OUTCOMES},
        "wait_from_first_usable": waits([r.wait_ms for r in right]),
        "wait_from_first_good": waits([r.wait_good_ms for r in right]),
        "frames_dropped": sum(r.dropped for r in results),
        "why_not_welcomed": dict(collections.Counter(r.why for r in staff if r.why).most_common()),
    }


def run_week(
    lfw: Path,
    *,
    profiles: dict[str, dict],
    days: int = DAYS,
    limit: int | None = STAFF,
    strangers: int = STRANGERS,
    fps: float = 15.0,
    threads: int = 1,
    seed: int = 0,
    pace: str = "camera",
    side_by_side: bool = True,
    progress: bool = True,
) -> dict:
    """The benchmark's core: plans the week, enrols, plays every walk-up to
    every profile's kiosk and returns the figures (the walk-ups' own records
    under "walkups"). ``pace``: "camera" (camera time, see
    :class:`CameraTimeReplay`) or "real" (the wall clock). ``side_by_side``:
    the profiles' kiosks watch each walk-up at the same time, each in a
    thread, like doors side by side; otherwise they take turns."""
    started, code = time.monotonic(), code_version()  # before the run: others may commit meanwhile
    counts = devtest(lfw)
    eligible = sorted(p for p, n in counts.items() if n >= MIN_PHOTOS)
    candidates = choose_staff(counts, limit, seed)
    # The release gate decides who can be enrolled at all and what a frame offers, so every
    # profile sees the same staff and the same walk-ups.
    gate = build_encoder(BUNDLED_MODELS["default"], threads=threads, quality=QualitySettings())
    refused, staff = collections.Counter(), []
    for person in candidates:
        try:
            make_reference(gate, read_photo(photo(lfw, person, 1)))
            staff.append(person)
        except EnrollmentError as exc:
            refused[str(exc)] += 1
    week = plan_week(lfw, staff, counts, days, strangers, seed)
    with tempfile.TemporaryDirectory(prefix="door-week-") as tmp:
        clock = Clock(Config().attendance.zone())
        doors = [Door.open(name, overrides, Path(tmp), clock, threads) for name, overrides in profiles.items()]
        for door in doors:
            door.enrol(lfw, staff)
        frames_seen: list[tuple[WalkUp, Seen]] = []
        bar = tqdm(total=sum(map(len, week)), desc="walk-ups", unit="walk-up", disable=not progress)
        with ThreadPoolExecutor(max_workers=len(doors) if side_by_side else 1) as pool:
            for day, walkups in enumerate(week):
                clock.start_day(day)
                for walkup in walkups:
                    frames = frames_of(walkup, fps)
                    seen = inspect(gate, frames)
                    frames_seen.append((walkup, seen))
                    for done in [pool.submit(door.walk, walkup, frames, seen, fps, pace) for door in doors]:
                        done.result()  # a failure in any kiosk stops the run
                    clock.next_walkup()
                    bar.update()
                    bar.set_postfix_str(f"day {day + 1}")
                for door in doors:
                    door.count_templates()
        bar.close()
        model = doors[0].app.model_version
        people = {door.name: len(door.app.employees()) for door in doors}
        for door in doors:
            door.app.store.close()
    staff_seen = [s for w, s in frames_seen if not w.stranger]
    return {
        "benchmark": "door_week",
        **code,
        "machine": f"{os.cpu_count()} cores",
        "model": model,
        "fps": fps,
        "pace": pace,
        "threads": threads,
        "days": days,
        "seed": seed,
        "staff": {
            "eligible": len(eligible),
            "drawn": len(candidates),
            "refused_photo_1": sum(refused.values()),
            "refused_because": dict(refused),
            "enrolled": len(staff),
        },
        "strangers_per_day": strangers,
        "walkup_frames": {
            "staff walk-ups": len(staff_seen),
            "without a usable frame": sum(s.first_usable is None for s in staff_seen),
            "without a good frame": sum(s.first_good is None for s in staff_seen),
            "good frames per walk-up, median": float(np.median([s.good for s in staff_seen])) if staff_seen else None,
            "faces refused by the gate": dict(sum((s.refused for s in staff_seen), collections.Counter()).most_common()),
        },
        "profiles": {
            door.name: {
                "overrides": profiles[door.name],
                "enrolled": people[door.name],
                "templates_learnt_by_day": door.templates,
                "enrolment_refused": len(door.enrolment_refused),
                "lookalike_warnings": door.lookalike_warnings,
                "days": [tally([r for r in door.results if r.walkup.day == day]) for day in range(days)],
                "week": tally(door.results),
            }
            for door in doors
        },
        "seconds": round(time.monotonic() - started),
        "walkups": {door.name: door.results for door in doors},
    }


def cell(entry: dict) -> str:
    return "-" if entry["percent"] is None else f"{entry['count']} ({entry['percent']:.1f}%)"


def print_table(figures: dict) -> None:
    w = max(len("profile"), *map(len, figures["profiles"]))
    header = (
        f"{'profile':<{w}} {'day':>4} {'staff':>5} {'welcomed':>13} {'wrong':>11} {'not recog.':>12} {'no answer':>12}"
        f" {'strangers':>9} {'welcomed':>11} {'wait median':>11} {'p90':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, profile in figures["profiles"].items():
        for label, t in [(str(d + 1), t) for d, t in enumerate(profile["days"])] + [("week", profile["week"])]:
            wait = t["wait_from_first_usable"]
            median = "-" if wait["median_ms"] is None else f"{wait['median_ms']} ms"
            p90 = "-" if wait["p90_ms"] is None else f"{wait['p90_ms']} ms"
            print(
                f"{name:<{w}} {label:>4} {t['staff']:>5} {cell(t['right']):>13} {cell(t['wrong']):>11}"
                f" {cell(t['not recognised']):>12} {cell(t['no answer']):>12} {t['strangers']:>9}"
                f" {cell(t['strangers welcomed']):>11} {median:>11} {p90:>6}"
            )
        week = profile["week"]
        print(
            f"{name}: {profile['enrolled']} enrolled, templates learnt by day {profile['templates_learnt_by_day']}, "
            f"frames dropped {week['frames_dropped']}, "
            f"not welcomed because: {week['why_not_welcomed'] or 'n/a'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", type=Path, default=LFW)
    ap.add_argument("--profiles", default=",".join(PROFILES), help=f"comma-separated, of: {', '.join(PROFILES)}")
    ap.add_argument(
        "--pace",
        choices=("camera", "real"),
        default="camera",
        help="camera: on camera time, whatever the machine's load (default); real: frames at the wall clock's rate",
    )
    ap.add_argument(
        "--take-turns", action="store_true", help="profiles watch each walk-up in turn, not side by side (for --pace real)"
    )
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--limit", type=int, default=STAFF, help="staff drawn from the eligible people (default: all)")
    ap.add_argument("--strangers", type=int, default=STRANGERS, help="strangers a day, none twice in the week")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=1, help="inference threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a tiny week: 6 staff, 2 strangers a day, 2 days")
    ap.add_argument("--out", type=Path, help="JSON figures (default for a full run: benchmarks/results/door_week.json)")
    ap.add_argument("--walkups", type=Path, help="also write every walk-up's record (names LFW people) here")
    args = ap.parse_args()
    if not (args.lfw / "peopleDevTest.txt").is_file():
        sys.exit(f"LFW is not at {args.lfw}: pass --lfw")
    unknown = [p for p in args.profiles.split(",") if p not in PROFILES]
    if unknown:
        sys.exit(f"unknown profile {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    if args.quick:
        args.limit, args.strangers, args.days = 6, 2, 2
    figures = run_week(
        args.lfw,
        profiles={p: PROFILES[p] for p in args.profiles.split(",")},
        days=args.days,
        limit=args.limit,
        strangers=args.strangers,
        fps=args.fps,
        threads=args.threads,
        seed=args.seed,
        pace=args.pace,
        side_by_side=not args.take_turns,
    )
    records = figures.pop("walkups")
    s = figures["staff"]
    print(
        f"model {figures['model']}, {s['enrolled']} staff enrolled ({s['eligible']} DevTest people with {MIN_PHOTOS}+ photos, "
        f"{s['drawn']} drawn, {s['refused_photo_1']} refused on photo 1), {figures['strangers_per_day']} strangers a day, "
        f"{figures['days']} days at {figures['fps']:g} fps, {figures['threads']} thread(s), {figures['seconds']} s"
    )
    print(f"walk-up frames (release gate): {figures['walkup_frames']}")
    print_table(figures)
    default_size = not args.quick and (args.limit, args.strangers, args.days) == (STAFF, STRANGERS, DAYS)
    out = args.out or (RESULTS if default_size else None)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"written {out}")
    if args.walkups:
        rows = [
            {
                "profile": name,
                "day": r.walkup.day + 1,
                "person": r.walkup.person,
                "stranger": r.walkup.stranger,
                "photos": [r.walkup.frontal.name, r.walkup.turned.name],
                "outcome": r.outcome,
                "greeted": r.greeted,
                "wait_ms": r.wait_ms,
                "first_usable_frame": r.seen.first_usable,
                "first_good_frame": r.seen.first_good,
                "good_frames": r.seen.good,
                "fair_frames": r.seen.fair,
                "dropped": r.dropped,
                "why": r.why,
            }
            for name, results in records.items()
            for r in results
        ]
        args.walkups.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
