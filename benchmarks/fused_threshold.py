"""Does the threshold keep its promise for fused evidence?

    .venv/bin/python benchmarks/fused_threshold.py [--lfw ../shared/data/lfw] [--limit N]

The door judges the mean of a visit's face embeddings (kiosk.visits). A mean
of several pictures of one face lies nearer that face's centre, and other
people's photos are then nearer too, so the sidecar's single-pair table is
optimistic for it; ``trainer calibrate-fused`` measures a table for fused
faces on calibration people (LFW DevTrain) and writes it into the sidecar.
This checks both tables on people neither was made on.

LFW View 1 test people (``peopleDevTest.txt``), every photo through the
kiosk's gate and model:

- **pairs**: the mean of k photos of person A (k = 1, 2, 3) against the
  enrolment photo (the first usable one) of every other person B; the
  false-accept rate at each threshold of the single-pair table and of the
  fused table, against the rate they promise;
- **the door**: everyone with 2 or more usable photos enrolled from one photo;
  each is then a stranger once (left out of the gallery) with the mean of k
  of their other photos, judged as the kiosk judges a visit (the threshold for
  the gallery's size and the evidence's tier, and the margin: one photo at the
  single-pair thresholds, fused photos at the fused ones), and a colleague (in
  the gallery) with the same evidence: strangers accepted, right person, wrong person.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from kiosk.composition import build_encoder
from kiosk.config import BUNDLED_MODEL, RecognitionSettings
from kiosk.recognition import Recognizer
from kiosk.store_rows import Gallery
from trainer.calibrate_fused import embed_people, fuse, read_people

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
RESULTS = Path(__file__).resolve().parent / "results" / "fused_threshold.json"
KS = (1, 2, 3)


def groups(pictures, k: int):
    """Disjoint groups of k of a person's photos after the enrolment photo, fused as the door fuses."""
    rest = pictures[1:]
    return [fuse(rest[i : i + k]) for i in range(0, len(rest) - k + 1, k)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", default=str(LFW))
    ap.add_argument("--limit", type=int, help="only the first N DevTest people (a quick run)")
    args = ap.parse_args()
    lfw = Path(args.lfw)
    if not (lfw / "peopleDevTest.txt").is_file():
        sys.exit(f"LFW is not at {lfw}: pass --lfw")
    encoder = build_encoder(BUNDLED_MODEL, threads=1)
    photos = embed_people(encoder, lfw / "images_deepfunneled", read_people(lfw / "peopleDevTest.txt")[: args.limit or None])
    recognizer = Recognizer(encoder, RecognitionSettings())
    contract = encoder.embedder.contract
    names = sorted(photos)
    enrolment = np.stack([photos[n][0].embedding for n in names])
    results: dict = {"model": contract.version, "pairs": {}, "door": {}}

    tables = {"single-pair table": contract.far_thresholds, "fused table": contract.fused_far_thresholds}
    for label, table in tables.items():
        if not table:
            print(f"\nthe sidecar has no {label}")
            continue
        print(f"\npair false-accept rate at the {label}'s thresholds ({len(names)} people)")
        print(f"{'photos fused':>13}  " + "  ".join(f"{'FAR ' + format(r, 'g'):>12}" for r in sorted(table)))
        for k in KS:
            distances = [
                np.delete(1.0 - enrolment @ evidence.mean(), a)
                for a, name in enumerate(names)
                for evidence in groups(photos[name], k)
            ]
            if not distances:
                continue
            d = np.concatenate(distances)
            row = {str(r): float(np.mean(d <= t)) for r, t in sorted(table.items())}
            results["pairs"].setdefault(label, {})[k] = {"impostor_pairs": int(d.size), "far_at_table_rate": row}
            print(f"{k:>13}  " + "  ".join(f"{row[str(r)]:>12.2e}" for r in sorted(table)) + f"   ({d.size} pairs)")

    enrolled = [n for n in names if len(photos[n]) >= 2]
    ids = np.arange(len(enrolled))
    rows = np.stack([photos[n][0].embedding for n in enrolled])
    full = Gallery(ids, enrolled, rows, 0)
    single, fused = recognizer.thresholds(len(enrolled)), recognizer.thresholds(len(enrolled), fused=True)
    print(
        f"\nat the door: {len(enrolled)} people enrolled from one photo; thresholds (good/fair): one photo "
        f"{single.good:.4f}/{single.fair:.4f}, fused {fused.good:.4f}/{fused.fair:.4f}"
    )
    print(f"{'photos fused':>13} {'visits':>7} {'right':>7} {'wrong':>7} {'strangers in':>13}")
    for k in KS:
        tally = {"visits": 0, "right": 0, "wrong": 0, "strangers_in": 0}
        for index, name in enumerate(enrolled):
            alone = Gallery(np.delete(ids, index), [n for n in enrolled if n != name], np.delete(rows, index, 0), 0)
            for evidence in groups(photos[name], k):
                embedding, tier = evidence.mean(), evidence.tier
                seen = recognizer.opinion(embedding, tier, full, fused=k > 1)
                tally["visits"] += 1
                tally["right"] += seen.accepted and seen.person == index
                tally["wrong"] += seen.accepted and seen.person != index
                tally["strangers_in"] += recognizer.opinion(embedding, tier, alone, fused=k > 1).accepted
        results["door"][k] = tally
        n = max(tally["visits"], 1)
        print(
            f"{k:>13} {tally['visits']:>7} {tally['right'] / n:>7.1%} {tally['wrong'] / n:>7.2%} {tally['strangers_in'] / n:>13.2%}"
        )
    print(f"\nthe kiosk promises strangers in at most about {RecognitionSettings().stranger_accept_rate:.0%} of visits")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
