"""How long a person waits at the door: from the first good camera frame to the
punch stored and the welcome on screen, in real time.

    .venv/bin/python benchmarks/time_to_welcome.py [--model default|fast] [--walkers 40] [--fps 15]

LFW View 1 test people (never trained on) with two or more photos are the
staff, each enrolled from their first photo as ``kiosk enroll`` does. Those
with three or more photos walk up (frames made by ``tests/walkup.py``: from
about 3 m, looking aside on the way in with their third photo, a blurred
moment, then facing the camera with their second photo) and the real
:class:`kiosk.loop.KioskLoop` (built as ``kiosk run`` builds it) reads the frames at the camera's rate, so a slow
pipeline drops behind as it would at the door. Reported: how many walk-ups
ended in the right welcome, a wrong name, "not recognised" or nothing, and
the median and 90th percentile of the wait, in milliseconds and in frames.
With ``decide_by = "fused"`` (the default) a visit is named once its evidence
is worth ``evidence_frames`` good frames, and fair frames before the first good
one count too, so a welcome can come on the first good frame; with ``"votes"``
(release 2026.11) it needs ``frames_needed`` good frames, so at 15 fps its
floor is (frames_needed - 1) / 15 s plus one frame's processing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.application import Application  # noqa: E402
from kiosk.composition import (
    build_encoder,  # noqa: E402
    build_loop,  # noqa: E402
)
from kiosk.config import (  # noqa: E402
    BUNDLED_MODELS,
    AttendanceSettings,
    Config,
    DisplaySettings,
    LivenessSettings,
    RecognitionSettings,
)
from kiosk.enrollment import EnrollmentError, make_reference  # noqa: E402
from kiosk.recognition import Recognizer  # noqa: E402
from kiosk.status import Status  # noqa: E402
from kiosk.store import Store  # noqa: E402
from tests.walkup import EMPTY, walk_up  # noqa: E402

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


class PacedReplay:
    """Frames handed out no faster than the camera's rate; remembers when each
    was taken (a skipped frame: when the one after it was) and how many were read."""

    name = "replay:benchmark"

    def __init__(self, frames, fps: float):
        self.frames, self.interval = list(frames), 1.0 / fps
        self.taken: list[float] = []
        self.reads = 0
        self.start: float | None = None  # the first read: building the loop must not cost frames

    def read(self):
        if len(self.taken) == len(self.frames):
            return None
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + len(self.taken) * self.interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        # A camera keeps only its newest frame: a pipeline that falls behind skips frames.
        index = max(len(self.taken), min(len(self.frames) - 1, int((time.monotonic() - self.start) / self.interval)))
        self.taken += [time.monotonic()] * (index + 1 - len(self.taken))
        self.reads += 1
        return self.frames[index]

    def due(self, index: int) -> float:
        """When the camera takes frame ``index`` (once the first has been read)."""
        return self.start + index * self.interval

    def close(self):
        pass


class Watch(Status):
    """Every welcome, "already" and "not recognised" screen and when it
    appeared by ``clock`` (``outcomes``; ``outcome`` is the first)."""

    def __init__(self, clock=time.monotonic):
        super().__init__()
        self.clock = clock
        self.outcomes: list[tuple[float, object]] = []

    @property
    def outcome(self):
        return self.outcomes[0] if self.outcomes else None

    def show(self, screen, face=None):
        # A held screen is shown again with each frame; only a new one is an outcome.
        if screen.state in ("welcome", "already", "unknown") and screen != self.screen:
            self.outcomes.append((self.clock(), screen))
        super().show(screen, face)


def people(lfw: Path, least: int) -> dict[str, list[Path]]:
    photos = {}
    for line in (lfw / "peopleDevTest.txt").read_text().split("\n")[1:]:
        parts = line.split()
        if len(parts) == 2 and int(parts[1]) >= least:
            folder = lfw / "images_deepfunneled" / parts[0]
            photos[parts[0]] = [folder / f"{parts[0]}_{n:04d}.jpg" for n in (1, 2, 3)[: min(3, int(parts[1]))]]
    return photos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=tuple(BUNDLED_MODELS), default="default")
    ap.add_argument("--lfw", default=str(LFW))
    ap.add_argument("--walkers", type=int, default=40, help="how many people walk up")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=2, help="inference threads (the kiosk's default: 2)")
    args = ap.parse_args()
    lfw = Path(args.lfw)
    if not (lfw / "peopleDevTest.txt").is_file():
        sys.exit(f"LFW is not at {lfw}: pass --lfw")
    encoder = build_encoder(BUNDLED_MODELS[args.model], threads=args.threads)
    settings = RecognitionSettings()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "kiosk.db")
        ids = {}
        for person, photos in tqdm(people(lfw, 2).items(), desc="enrolling", unit="person"):
            try:
                ref = make_reference(encoder, cv2.imread(str(photos[0])))
            except EnrollmentError:
                continue
            ids[person] = store.add_employee(
                person,
                image=ref.image,
                face=ref.face,
                crop=ref.crop,
                embedding=ref.embedding,
                model_version=encoder.embedder.contract.version,
            )
        walkers = [p for p in people(lfw, 3) if p in ids][: args.walkers]
        recognizer = Recognizer(encoder, settings)
        config = Config(  # the walk-ups are flat photos: liveness off, as before it existed
            recognition=settings,
            attendance=AttendanceSettings(cooldown_seconds=0),
            display=DisplaySettings(preview=False),
            liveness=LivenessSettings(mode="off"),
        )
        outcomes = {"right": 0, "wrong": 0, "not recognised": 0, "nothing": 0, "no good frame": 0}
        waits_ms, waits_frames = [], []
        for person in tqdm(walkers, desc="walking up", unit="person"):
            _, walking, turned = people(lfw, 3)[person]
            frames = walk_up(cv2.imread(str(walking)), cv2.imread(str(turned))) + [EMPTY] * int(args.fps)
            good = [i for i, f in enumerate(frames) if encoder.check(f).good]
            camera = PacedReplay(frames, args.fps)
            watch = Watch()
            loop = build_loop(
                config, Application(store, recognizer, config.attendance, "benchmark"), watch, lambda camera=camera: camera
            )
            loop.run()
            if not good:
                outcomes["no good frame"] += 1
                continue
            if watch.outcome is None:
                outcomes["nothing"] += 1
                continue
            at, screen = watch.outcome
            if screen.state == "unknown":
                outcomes["not recognised"] += 1
                continue
            outcomes["right" if screen.title.endswith(person) else "wrong"] += 1
            if screen.title.endswith(person):
                first = camera.taken[good[0]]
                waits_ms.append((at - first) * 1000)
                waits_frames.append(sum(1 for t in camera.taken if first <= t <= at))
    print(
        f"model {args.model} ({encoder.embedder.contract.version}), gallery {len(ids)} people, {len(walkers)} walk-ups "
        f"at {args.fps:g} fps, "
        + (
            f"fused evidence worth {settings.evidence_frames:g} good frames"
            if settings.decide_by == "fused"
            else f"vote {settings.frames_needed} of {settings.frames_window} good frames"
        )
    )
    for name, count in outcomes.items():
        print(f"  {name:<16} {count}")
    if waits_ms:
        print(
            f"first good frame -> welcome: median {np.median(waits_ms):.0f} ms, 90th percentile "
            f"{np.percentile(waits_ms, 90):.0f} ms, max {max(waits_ms):.0f} ms; "
            f"frames read from the first good one: median {np.median(waits_frames):.0f}, max {max(waits_frames)}"
        )
        if settings.decide_by == "votes":
            print(
                f"  floor at this frame rate: {(settings.frames_needed - 1) / args.fps * 1000:.0f} ms plus one frame's processing"
            )


if __name__ == "__main__":
    main()
