"""door_week.py's working week replayed from embeddings: the same walk-ups and
the same rules in minutes instead of half an hour a profile, so that settings
can be compared on other weeks and other people.

    .venv/bin/python benchmarks/door_week_replay.py [--people devtest|devtrain] [--seed 0] [--limit N] [--out FILE]

The week is door_week's (``plan_week``: staff from the people file with at
least 5 photos, enrolled from photo 1; every day a walk-up each made from 2
of their other photos; 25 one-photo strangers a day). Every distinct frame
of a walk-up is embedded once by the kiosk's encoder (the release gate), and
so is the face a welcome would keep (the face-centred picture the kiosk
re-embeds). Each settings profile then plays the frames, at 15 fps, through
the kiosk's own pieces: the visit rules (``kiosk.visits.step`` with
``composition.visit_rules``), the recogniser's judge (``Recognizer.opinion``
on ``Application.gallery()``) and, after a welcome, ``Application.record_visit``
and ``Application.learn`` on a store of the profile's own, for the whole week.
Only the face pipeline is replaced by the cached embeddings; nothing of the
decision is written again here.

What it leaves out: the camera loop's timing (a pipeline behind the camera
skips frames; door_week drops none at 15 fps) and the screen. On door_week's
own week (DevTest, seed 0) it gives door_week's counts day for day.

``--people devtrain`` plays a week of LFW DevTrain people instead: they are
not the people the defaults were chosen on, but the sidecar's fused table and
extra-picture weight were measured on them (strangers welcomed there say
little), and the fast model was trained on them (this uses the default
model).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.door_week import (  # noqa: E402
    DAYS,
    LFW,
    MIN_PHOTOS,
    OUTCOMES,
    STRANGERS,
    Clock,
    WalkUp,
    choose_staff,
    devtest,
    frames_of,
    photo,
    plan_week,
    profile_config,
)
from kiosk import visits  # noqa: E402
from kiosk.application import Application  # noqa: E402
from kiosk.composition import build_encoder, visit_rules  # noqa: E402
from kiosk.config import BUNDLED_MODELS, Config, QualitySettings  # noqa: E402
from kiosk.detection import Detection  # noqa: E402
from kiosk.enrollment import EnrollmentError, make_reference, read_photo, reference_image  # noqa: E402
from kiosk.recognition import Recognizer  # noqa: E402
from kiosk.store import Store  # noqa: E402
from kiosk.templates import BestFace  # noqa: E402

FPS = 15.0
PEOPLE_FILES = {"devtest": "peopleDevTest.txt", "devtrain": "peopleDevTrain.txt"}
# Fused-evidence profiles only: the release's vote judges single frames, which this does not replay.
PROFILES: dict[str, dict[str, dict]] = {
    "candidate": {},
    "learning off": {"recognition": {"learn_from_visits": False}},
    "learn_margin 0.3": {"recognition": {"learn_margin": 0.3}},
    "candidate-mean": {"recognition": {"match_templates": "mean"}},
}


@dataclass(frozen=True)
class Frame:
    """One frame as the kiosk's encoder saw it, and the face a welcome would keep from it."""

    face: bool
    tier: str | None
    embedding: np.ndarray | None
    kept: np.ndarray | None  # the embedding of the face-centred picture of a usable face
    width: float


def embed_walk_up(encoder, walkup: WalkUp, keep: bool = True) -> list[Frame]:
    """Each frame of the walk-up as the encoder sees it (a repeated frame is embedded once); with ``keep``,
    also the embedding of each usable face as a welcome would keep it."""
    done, out = {}, []
    for frame in frames_of(walkup, FPS):
        if id(frame) not in done:
            quality, _, embedding = encoder.encode(frame)
            kept = None
            if quality.ok and keep:
                image, face = reference_image(frame, quality.face)
                kept = encoder.embed_face(image, face)[1]
            width = 0.0 if quality.face is None else float(quality.face.box[2] - quality.face.box[0])
            done[id(frame)] = Frame(quality.face is not None, quality.tier if quality.ok else None, embedding, kept, width)
        out.append(done[id(frame)])
    return out


class CachedFaces:
    """Stands in for the face pipeline where the application asks for it (learning): the model's
    contract, and the embedding of the face the replay says the visit kept."""

    def __init__(self, contract):
        self.embedder = SimpleNamespace(contract=contract)
        self.kept: np.ndarray | None = None

    def embed_face(self, image, face):
        return np.zeros((8, 8, 3), np.uint8), self.kept


def play(app: Application, faces: CachedFaces, rules: visits.VisitSettings, frames: list[Frame]) -> tuple[list[int], bool]:
    """One walk-up through the visit rules; returns who was named, and whether "not recognised" was said."""
    gallery = app.gallery()
    visit, best, kept, named, unknown = visits.Visit(), None, None, [], False
    canvas = np.zeros((32, 32, 3), np.uint8)
    for i, frame in enumerate(frames):
        seen = visits.Seen(face=frame.face, tier=frame.tier, embedding=frame.embedding)
        visit, events = visits.step(visit, seen, i / FPS, rules, lambda e, tier, g=gallery: app.recognizer.opinion(e, tier, g))
        if frame.tier is not None:
            box = np.array([0, 0, frame.width, frame.width], np.float32)
            candidate = BestFace(canvas, Detection(box, 1.0, np.tile(box[:2], (6, 1))), frame.tier == visits.GOOD)
            if candidate.beats(best):
                best, kept = candidate, frame.kept
        for event in events:
            if isinstance(event, visits.Recognised):
                named.append(event.person)
                outcome = app.record_visit(event.person, event.distance)
                faces.kept = kept
                if app.learn(event.person, event, best, outcome.entry) is not None:
                    gallery = app.gallery()
                best = kept = None
            elif isinstance(event, visits.NotRecognised):
                unknown = True
    return named, unknown


def replay(week, staff, references, contract, profiles: dict[str, dict], folder: Path) -> dict:
    figures = {}
    for name, overrides in profiles.items():
        config: Config = profile_config(name, overrides, 1)
        faces = CachedFaces(contract)
        clock = Clock(config.attendance.zone())
        store = Store(folder / f"{name}.db")
        app = Application(store, Recognizer(faces, config.recognition), config.attendance, "replay", clock=clock)
        ids = {person: app.enrol(person, references[person], force=True).employee_id for person in staff}
        rules = visit_rules(config.recognition)
        days = []
        for day, walkups in enumerate(week):
            clock.start_day(day)
            tally = collections.Counter()
            for walkup, frames in walkups:
                named, unknown = play(app, faces, rules, frames)
                clock.next_walkup()
                if walkup.stranger:
                    tally["strangers welcomed" if named else "strangers"] += 1
                elif any(n != ids[walkup.person] for n in named):
                    tally["wrong"] += 1
                else:
                    tally["right" if named else "not recognised" if unknown else "no answer"] += 1
            staff_count = sum(tally[k] for k in OUTCOMES)
            days.append(
                {
                    "right_percent": round(100 * tally["right"] / staff_count, 1),
                    **{k: tally[k] for k in (*OUTCOMES, "strangers welcomed")},
                    "templates": sum(len(app.templates.of(i)) for i in ids.values()),
                }
            )
        store.close()
        right = sum(d["right"] for d in days)
        figures[name] = {
            "overrides": overrides,
            "days": days,
            "week_percent": round(100 * right / (len(staff) * len(days)), 1),
            "wrong": sum(d["wrong"] for d in days),
            "strangers_welcomed": sum(d["strangers welcomed"] for d in days),
        }
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", type=Path, default=LFW)
    ap.add_argument("--people", choices=sorted(PEOPLE_FILES), default="devtest")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=125, help="staff drawn from the eligible people (door_week: all 125 of DevTest)")
    ap.add_argument("--profiles", default=",".join(PROFILES), help=f"comma-separated, of: {', '.join(PROFILES)}")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not (args.lfw / PEOPLE_FILES[args.people]).is_file():
        raise SystemExit(f"{args.lfw}: no {PEOPLE_FILES[args.people]}; give --lfw the LFW folder")
    encoder = build_encoder(BUNDLED_MODELS["default"], threads=1, quality=QualitySettings())
    counts = devtest(args.lfw, PEOPLE_FILES[args.people])
    staff, references = [], {}
    for person in choose_staff(counts, args.limit, args.seed):
        try:
            references[person] = make_reference(encoder, read_photo(photo(args.lfw, person, 1)))
            staff.append(person)
        except EnrollmentError:
            pass
    planned = plan_week(args.lfw, staff, counts, DAYS, STRANGERS, args.seed)
    week = [
        [(w, embed_walk_up(encoder, w)) for w in tqdm(day, desc=f"embedding day {d + 1}", unit="walk-up")]
        for d, day in enumerate(planned)
    ]
    with tempfile.TemporaryDirectory(prefix="door-replay-") as tmp:
        chosen = {p: PROFILES[p] for p in args.profiles.split(",")}
        profiles = replay(week, staff, references, encoder.embedder.contract, chosen, Path(tmp))
    figures = {
        "benchmark": "door_week_replay",
        "people": args.people,
        "seed": args.seed,
        "staff": len(staff),
        "eligible": sum(n >= MIN_PHOTOS for n in counts.values()),
        "strangers_per_day": STRANGERS,
        "profiles": profiles,
    }
    print(f"{args.people}, seed {args.seed}: {len(staff)} staff, {STRANGERS} strangers a day, {DAYS} days")
    for name, p in profiles.items():
        per_day = " ".join(f"{d['right_percent']:5.1f}" for d in p["days"])
        print(
            f"  {name:18} welcomed by day {per_day}  week {p['week_percent']:5.1f}%  wrong {p['wrong']}  strangers {p['strangers_welcomed']}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"written {args.out}")


if __name__ == "__main__":
    main()
