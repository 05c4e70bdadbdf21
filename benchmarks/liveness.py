"""Photos and screens at the door: synthetic genuine walk-ups, print attacks and
phone-screen attacks played through the real loop with ``[liveness] mode`` off,
passive and challenge, in the same run.

    .venv/bin/python benchmarks/liveness.py [--people 30] [--modes off passive challenge] [--out FILE]

For each LFW DevTest person with at least two photos whose second photo the
kiosk would enrol from (one face, good quality): the person is enrolled from
their first photo; the scenes of :mod:`tests.spoof_scenes` are made from their
second (a head rendered turning while it approaches; the photo printed on a
sheet, moved and tilted; the photo on a phone with moire and glare). So a
genuine walk-up must also be recognised, as at the door, and an attack shows
the kind of photo the kiosk enrols from.

Each scene runs through ``build_loop`` as ``kiosk run`` builds it, on camera
time (benchmarks/door_week.py ``CameraTimeReplay``: a frame that costs more
than a frame interval makes the camera skip ahead). Reported per mode and
scene: welcomed (a punch or "already"), refused as a photo or screen, challenge
not done in time, "not recognised", no answer; for genuine walk-ups, the time
from the first frame with a usable face to the welcome; and the liveness
stage's time per frame (the face mesh, the spoof detector, the rules).

No real spoof data set allows commercial use, so these are synthetic scenes:
see the README, "Photos and screens", for what that does and does not show.
Challenge mode's genuine heads turn the way the scene was rendered, not the
way they are asked, so about half of them "fail" the challenge here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.door_week import CameraTimeReplay  # noqa: E402
from kiosk.application import Application  # noqa: E402
from kiosk.composition import build_loop, recognizer  # noqa: E402
from kiosk.config import config_from_dict  # noqa: E402
from kiosk.detection import make_detector  # noqa: E402
from kiosk.enrollment import EnrollmentError, make_reference  # noqa: E402
from kiosk.face_mesh import FaceMesh  # noqa: E402
from kiosk.quality import check_quality  # noqa: E402
from kiosk.status import Status  # noqa: E402
from kiosk.store import Store  # noqa: E402
from tests.spoof_scenes import FPS, all_scenes, photo_mesh  # noqa: E402

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
OUTCOMES = ("welcomed", "spoof", "challenge failed", "not recognised", "no answer")
SCREEN_OUTCOMES = {
    "welcome": "welcomed",
    "already": "welcomed",
    "spoof": "spoof",
    "challenge-failed": "challenge failed",
    "unknown": "not recognised",
}


class Watch(Status):
    """The first answer the screen gave, and when (camera time)."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.answer: tuple[float, str] | None = None

    def show(self, screen, face=None):
        if self.answer is None and screen.state in SCREEN_OUTCOMES:
            self.answer = (self.clock(), SCREEN_OUTCOMES[screen.state])
        super().show(screen, face)


class Observer:
    """What the loop tells an observer, kept for the report."""

    def __init__(self):
        self.liveness_ms: list[float] = []
        self.frame_ms: list[float] = []

    def frame(self, seconds_by_stage):
        self.frame_ms.append(1000 * sum(seconds_by_stage.values()))
        if "liveness" in seconds_by_stage:
            self.liveness_ms.append(1000 * seconds_by_stage["liveness"])

    def decision(self, kind):
        pass


def candidates(lfw: Path, detector, count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(person, enrolment photo, scene photo) for up to ``count`` DevTest people."""
    rows = [line.split("\t") for line in (lfw / "peopleDevTest.txt").read_text().splitlines()[1:] if line.strip()]
    chosen = []
    for name, photos in rows:
        if int(photos) < 2:
            continue
        first, second = (cv2.imread(str(lfw / "images_deepfunneled" / name / f"{name}_{n:04d}.jpg")) for n in (1, 2))
        faces = detector.detect(second)
        if len(faces) == 1 and check_quality(second, faces).good:
            chosen.append((name, first, second))
        if len(chosen) == count:
            break
    return chosen


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", default=str(LFW))
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--modes", nargs="+", default=["off", "passive", "challenge"], choices=["off", "passive", "challenge"])
    parser.add_argument("--out", help="write the figures as JSON here too")
    args = parser.parse_args()
    lfw = Path(args.lfw)
    if not (lfw / "peopleDevTest.txt").is_file():
        sys.exit(f"{lfw}: LFW not found (give --lfw)")
    detector, mesh = make_detector("full"), FaceMesh.load()
    people = candidates(lfw, detector, args.people)
    configs = {
        mode: config_from_dict(
            {
                "model": {"threads": 1},
                "recognition": {"learn_from_visits": False},
                "attendance": {"cooldown_seconds": 0, "punch_photo_days": 0},
                "display": {"preview": False},
                "liveness": {"mode": mode},
            },
            f"mode {mode}",
        )
        for mode in args.modes
    }
    outcomes = {mode: {kind: Counter() for kind in ("genuine", "print", "screen")} for mode in args.modes}
    waits = {mode: [] for mode in args.modes}
    observers = {mode: Observer() for mode in args.modes}
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "liveness.db")
        base = configs[args.modes[0]]
        app = Application(store, recognizer(base), base.attendance, "bench")
        scenes_of = []
        for name, first, second in tqdm(people, desc="enrolling and making scenes", unit="person"):
            try:
                app.enrol(name.replace("_", " "), make_reference(app.encoder, first), force=True)
            except EnrollmentError:
                continue
            points = photo_mesh(second, detector, mesh)
            if points is not None:
                scenes_of.append((name, all_scenes(second, points, seed=len(scenes_of))))
        for mode in args.modes:
            config = configs[mode]
            for _, scenes in tqdm(scenes_of, desc=f"mode {mode}", unit="person"):
                for kind, frames in scenes.items():
                    camera = CameraTimeReplay(frames, FPS)
                    watch = Watch(camera.monotonic)
                    run_app = Application(store, app.recognizer, config.attendance, "bench")
                    loop = build_loop(
                        config, run_app, watch, lambda c=camera: c, monotonic=camera.monotonic, observer=observers[mode]
                    )
                    loop.run()
                    if loop.error:
                        raise RuntimeError(f"mode {mode}: the loop stopped: {loop.error}")
                    outcome = watch.answer[1] if watch.answer else "no answer"
                    outcomes[mode][kind][outcome] += 1
                    if kind == "genuine" and outcome == "welcomed":
                        first_usable = next((i for i, f in enumerate(frames) if app.encoder.check(f).ok), 0)
                        waits[mode].append(watch.answer[0] - camera.due(first_usable))
    figures = {"people": len(scenes_of), "fps": FPS, "frames_per_scene": len(scenes_of[0][1]["genuine"]) if scenes_of else 0}
    for mode in args.modes:
        row = {}
        for kind, counts in outcomes[mode].items():
            total = sum(counts.values())
            row[kind] = {o: percent(counts[o], total) for o in OUTCOMES}
        w = sorted(waits[mode])
        row["genuine_wait_s"] = (
            {
                "median": round(statistics.median(w), 3),
                "p90": round(float(np.percentile(w, 90)), 3),
                "under_1s": percent(sum(x < 1 for x in w), len(w)),
            }
            if w
            else None
        )
        obs = observers[mode]
        row["frame_ms_median"] = round(statistics.median(obs.frame_ms), 2) if obs.frame_ms else None
        row["liveness_ms"] = (
            {"median": round(statistics.median(obs.liveness_ms), 2), "p95": round(float(np.percentile(obs.liveness_ms, 95)), 2)}
            if obs.liveness_ms
            else None
        )
        figures[mode] = row
    if "off" in figures and "passive" in figures and figures["off"]["genuine"]["welcomed"]:
        figures["passive_genuine_of_off"] = round(
            figures["passive"]["genuine"]["welcomed"] / figures["off"]["genuine"]["welcomed"], 3
        )
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
