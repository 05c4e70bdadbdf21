"""End-to-end kiosk throughput on one thread with the replay source, per-stage
latency (the landmark step included), the cost of an empty frame (both
detectors run), the liveness check of ``[liveness] mode = "passive"`` (the
face mesh followed from the last frame and the spoof detector; a new face's
first frame meshes twice), the live preview, gallery matching at 10,000 people, and
process memory, for each bundled model.

    .venv/bin/python benchmarks/pipeline.py [--images DIR] [--frames 300] [--model default|fast]

Frames are LFW photos placed on a 640x480 canvas (the kiosk camera size).
Targets on this machine: full pipeline with one face <= 25 ms median; preview < 3 ms;
10,000-person match < 2 ms; kiosk process memory < 300 MB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from kiosk import preview
from kiosk.application import Application
from kiosk.cameras.replay import ReplayCamera
from kiosk.composition import build_encoder, liveness_check
from kiosk.config import BUNDLED_MODELS, AttendanceSettings, Config, LivenessSettings, RecognitionSettings
from kiosk.matching import best_match, l2_normalize
from kiosk.recognition import Recognizer
from kiosk.store import Store

ROOT = Path(__file__).resolve().parents[1]


def ms(values) -> str:
    return f"{1000 * statistics.median(values):6.2f} ms (p95 {1000 * float(np.percentile(values, 95)):6.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=str(ROOT.parent / "shared/data/lfw/images_deepfunneled"))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--model", choices=sorted(BUNDLED_MODELS), action="append", help="default: every bundled model")
    args = parser.parse_args()
    photos = sorted(Path(args.images).glob("*/*.jpg"))
    photos = photos[:: max(1, len(photos) // args.frames)][: args.frames]  # spread over all people
    if not photos:
        raise SystemExit(f"no images under {args.images}")
    for name in args.model or sorted(BUNDLED_MODELS):
        run(name, photos)
    report_matching_and_memory()


def run(name: str, photos: list[Path]) -> None:
    encoder = build_encoder(BUNDLED_MODELS[name], threads=1)
    contract = encoder.embedder.contract
    version = contract.version
    with tempfile.TemporaryDirectory() as tmp:
        frames_dir = Path(tmp) / "frames"
        frames_dir.mkdir()
        for i, p in enumerate(photos):
            frame = np.full((480, 640, 3), 90, np.uint8)
            frame[115:365, 195:445] = cv2.imread(str(p))
            cv2.imwrite(str(frames_dir / f"{i:05d}.png"), frame)
        store = Store(Path(tmp) / "kiosk.db")
        rng = np.random.default_rng(0)
        crop = np.zeros((contract.input_size, contract.input_size, 3), np.uint8)
        for i in range(100):
            store.add_employee(
                f"P{i}", image=None, face=None, crop=crop, embedding=l2_normalize(rng.normal(size=128)), model_version=version
            )
        gallery = store.gallery(version)
        recognizer = Recognizer(encoder, RecognitionSettings())
        app = Application(store, recognizer, AttendanceSettings(cooldown_seconds=0, day_start="04:00", timezone="UTC"), "bench")
        camera = ReplayCamera(frames_dir)
        check = liveness_check(Config(liveness=LivenessSettings(mode="passive")))
        stages = {k: [] for k in ("detect", "quality", "landmarks", "align", "embed", "match", "log", "preview")}
        stages |= {"liveness (a face followed)": [], "liveness (a new face)": []}
        totals = []
        start = time.perf_counter()
        n = 0
        while (frame := camera.read()) is not None:
            t = time.perf_counter()
            result = app.identify(frame, gallery)
            t_log = time.perf_counter()
            app.record_visit(int(gallery.ids[n % len(gallery)]), 0.1)
            stages["log"].append(time.perf_counter() - t_log)
            face = result.quality.face
            if face is not None:
                # Each photo is another face: its first frame starts a track, and a second look follows it.
                check.reset()
                stages["liveness (a new face)"].append(check.observe(frame, face, result.quality.ok, 0.0))
                stages["liveness (a face followed)"].append(check.observe(frame, face, result.quality.ok, 1 / 15))
            t_preview = time.perf_counter()
            preview.render(frame, None if face is None else face.box, result.quality.good)
            stages["preview"].append(time.perf_counter() - t_preview)
            totals.append(t_log - t)
            for k, v in result.timings.items():
                stages[k].append(v)
            n += 1
        wall = time.perf_counter() - start

    flips = ", flip-averaged: two passes" if contract.flip_average else ""
    print(
        f"\n{name} model {version} ({contract.input_size} px, {contract.alignment}{flips}) - frames: {n} (640x480, one face), 1 thread"
    )
    print(f"end-to-end incl. reading frames and logging: {n / wall:.1f} frames/s")
    for k, v in stages.items():
        if v:
            print(f"  {k:26s} {ms(v)}")
    median = 1000 * statistics.median(totals)
    print(f"pipeline per frame (detect..match): {ms(totals)}  -> {median / 25:.2f}x of the 25 ms budget")
    print(f"preview (only while someone watches): {1000 * statistics.median(stages['preview']) / 3:.2f}x of the 3 ms budget")
    empty = np.full((480, 640, 3), 90, np.uint8)
    idle = []
    for _ in range(100):
        t = time.perf_counter()
        recognizer.recognize(empty, gallery)
        idle.append(time.perf_counter() - t)
    print(f"empty frame (full range, then short range): {ms(idle)}")


def report_matching_and_memory() -> None:
    rng = np.random.default_rng(0)
    g = l2_normalize(rng.normal(size=(10_000, 128)))
    q = l2_normalize(rng.normal(size=128))
    for _ in range(20):
        best_match(g, q)
    match_times = []
    for _ in range(500):
        t = time.perf_counter()
        best_match(g, q)
        match_times.append(time.perf_counter() - t)
    print(
        f"\nmatch against 10,000 people: {ms(match_times)}  -> {1000 * statistics.median(match_times) / 2:.2f}x of the 2 ms budget"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak process memory: {peak:.0f} MB  -> {peak / 300:.2f}x of the 300 MB budget")


if __name__ == "__main__":
    main()
