"""Face detection rate on LFW and detect+align latency on one thread.

    .venv/bin/python benchmarks/detection.py [--images ../shared/data/lfw/images_deepfunneled] [--limit N]

Prints the share of images with a face, the per-image detect+align latency on
the 250x250 LFW images, and on a 640x480 frame (the kiosk camera size).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from kiosk.alignment import align_face
from kiosk.detection import FaceDetector, default_model_path
from kiosk.inference import TFLiteModel

ROOT = Path(__file__).resolve().parents[1]


def detect_align(detector, image, size):
    faces = detector.detect(image)
    if faces:
        align_face(image, faces[0].keypoints, size)
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=str(ROOT.parent / "shared/data/lfw/images_deepfunneled"))
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    parser.add_argument("--size", type=int, default=64, help="aligned crop size")
    args = parser.parse_args()
    detector = FaceDetector(TFLiteModel(default_model_path(), num_threads=1))
    files = sorted(Path(args.images).glob("*/*.jpg"))
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"no images under {args.images}")
    found, times = 0, []
    for f in tqdm(files, unit="img"):
        image = cv2.imread(str(f))
        t = time.perf_counter()
        found += bool(detect_align(detector, image, args.size))
        times.append(time.perf_counter() - t)
    print(f"LFW images with a face: {found}/{len(files)} = {100 * found / len(files):.2f}%")
    print(
        f"detect+align per 250x250 image, 1 thread: median {1000 * statistics.median(times):.2f} ms, "
        f"p95 {1000 * np.percentile(times, 95):.2f} ms"
    )
    frame = cv2.resize(cv2.imread(str(files[0])), (640, 480))
    for _ in range(5):
        detect_align(detector, frame, args.size)
    frame_times = []
    for _ in range(200):
        t = time.perf_counter()
        detect_align(detector, frame, args.size)
        frame_times.append(time.perf_counter() - t)
    median = 1000 * statistics.median(frame_times)
    print(f"detect+align per 640x480 frame, 1 thread: median {median:.2f} ms (target 10 ms: {median / 10:.2f}x of budget)")


if __name__ == "__main__":
    main()
