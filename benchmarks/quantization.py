"""int8 versus float: embedding cosine and verification accuracy on LFW pairsDevTest.

    .venv/bin/python benchmarks/quantization.py [--weights trainer/weights] [--int8 kiosk/models/face_embedding_int8.tflite]

Embeds every pairsDevTest image with the Keras model (float) and the exported
int8 model, prints the cosine between the two embeddings of each face and the
accuracy of both at thresholds chosen on pairsDevTrain.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from kiosk.config import BUNDLED_MODEL  # noqa: E402
from kiosk.detection import FaceDetector, default_model_path  # noqa: E402
from kiosk.embedding import Embedder  # noqa: E402
from kiosk.inference import TFLiteModel  # noqa: E402
from trainer.embed import embed_keras  # noqa: E402
from trainer.evaluate import aligned_crops  # noqa: E402
from trainer.export import build_keras  # noqa: E402
from trainer.lfw import read_pairs  # noqa: E402
from trainer.metrics import accuracy_at, best_threshold  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(ROOT / "trainer" / "weights"), help="folder with config.json and the weights")
    parser.add_argument("--weights-file", default="default-64.weights.h5")
    parser.add_argument("--int8", default=str(BUNDLED_MODEL))
    parser.add_argument("--lfw", default=str(LFW))
    args = parser.parse_args()
    lfw = Path(args.lfw)
    test, calib = read_pairs(lfw / "pairsDevTest.txt"), read_pairs(lfw / "pairsDevTrain.txt")
    names = sorted({p.left for p in test + calib} | {p.right for p in test + calib})
    embedder = Embedder.load(args.int8, num_threads=2)
    crops = aligned_crops(
        lfw / "images_deepfunneled", names, FaceDetector(TFLiteModel(default_model_path())), embedder.input_size
    )
    names = [n for n in names if crops[n] is not None]
    stack = np.stack([crops[n] for n in names])
    model, _ = build_keras(Path(args.weights), args.weights_file)
    index = {n: i for i, n in enumerate(names)}
    float_emb = embed_keras(model, stack)
    int8_emb = np.stack([embedder.embed(c) for c in stack])
    cosine = np.sum(float_emb * int8_emb, axis=1)
    test_names = {p.left for p in test} | {p.right for p in test}
    test_cos = cosine[[index[n] for n in names if n in test_names]]
    print(f"faces: {len(test_cos)} (pairsDevTest images)")
    print(
        f"cosine(float, int8): mean {test_cos.mean():.4f}, min {test_cos.min():.4f}, 1st percentile {np.percentile(test_cos, 1):.4f}"
    )
    results = {}
    for label, emb in (("float", float_emb), ("int8", int8_emb)):

        def distances(ps, emb=emb):
            return np.array([1 - float(emb[index[p.left]] @ emb[index[p.right]]) for p in ps])

        threshold = best_threshold(distances(calib), np.array([p.same for p in calib]))
        results[label] = accuracy_at(distances(test), np.array([p.same for p in test]), threshold)
        print(f"accuracy {label:5s}: {100 * results[label]:.2f}% (threshold {threshold:.4f} from pairsDevTrain)")
    print(f"int8 - float accuracy: {100 * (results['int8'] - results['float']):+.2f} points")


if __name__ == "__main__":
    main()
