"""Time per face of the passive spoof check (MiniFASNet V2 + V1SE, fp32 TFLite) on one thread.

    .venv/bin/python benchmarks/antispoof.py [--image ../shared/models/minifasnet/image_T1.jpg] [--runs 200]

Finds the face once with the kiosk's detector, then times ``SpoofDetector.check``
on it: both crops, both models and the softmaxes, which is what the kiosk would
pay per face; the two model runs alone are timed too. Without the image it times
a synthetic 640x480 frame with a fixed face box.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from kiosk.spoof_detector import SpoofDetector

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "models" / "minifasnet" / "image_T1.jpg"


def median_ms(call, runs: int) -> tuple[float, float]:
    for _ in range(10):  # warm-up: first runs allocate and fill caches
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), 1000 * float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=str(SAMPLE), help="a photo with one face (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    detector = SpoofDetector.load(num_threads=1)
    image = cv2.imread(args.image) if Path(args.image).is_file() else None
    if image is not None:
        from kiosk.detection import make_detector

        faces = make_detector("full", threads=1).detect(image)
        if not faces:
            raise SystemExit(f"{args.image}: no face found")
        box, source = faces[0].box, f"{Path(args.image).name} {image.shape[1]}x{image.shape[0]}"
    else:
        image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
        box, source = np.array([260.0, 160.0, 380.0, 300.0]), "synthetic 640x480 frame"
    crops = [crop.astype(np.float32)[None] for crop in detector.crops(image, box)]

    def models_only():
        for crop, model in zip(crops, detector.models, strict=True):
            model.run(crop)

    result = detector.check(image, box)
    check, check_p95 = median_ms(lambda: detector.check(image, box), args.runs)
    models, models_p95 = median_ms(models_only, args.runs)
    print(f"{source}: {result.label} (score {result.score:.3f}), sidecar {detector.contract.version}")
    print(
        f"per face, 1 thread, median of {args.runs}: check {check:.2f} ms (p95 {check_p95:.2f}); "
        f"the two model runs alone {models:.2f} ms (p95 {models_p95:.2f})"
    )


if __name__ == "__main__":
    main()
