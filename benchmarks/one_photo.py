"""One photo per person, as a shop enrols its staff: the kiosk against face_recognition.

    .venv/bin/python benchmarks/one_photo.py [--model M] [--stranger-rate 0.01] [--limit N]

LFW View 1 test people (``peopleDevTest.txt``, never trained on): everyone
with two or more photos is enrolled from their first photo through the code
path of ``kiosk enroll`` (quality gate, face choice, look-alike check; the
look-alike warnings are counted and confirmed, as a manager does on the
admin page), and
all their other photos are identified through the path of ``kiosk identify``
(gate, gallery-wide best match, the threshold for the gallery's size and the
face's quality tier, and the margin).
Everyone with a single photo is a stranger who must not get in. The same
photos go through ``face_recognition`` (dlib's HOG detector and ResNet) at
its default tolerance 0.6: enrolled from the largest face it finds, a probe
accepted as the nearest enrolled face within 0.6.

Reported for both: enrolment refusals, rank-1 (probes of enrolled people
accepted as the right person; photos the gate refuses count as misses),
wrong person (accepted as someone else) and strangers accepted.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kiosk.application import Application
from kiosk.cli import identify_photo
from kiosk.composition import build_encoder
from kiosk.config import BUNDLED_MODEL, AttendanceSettings, RecognitionSettings
from kiosk.enrollment import EnrollmentError, lookalikes, make_reference, read_photo
from kiosk.recognition import Recognizer
from kiosk.store import Store

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


@dataclass
class Tally:
    refused: collections.Counter = field(default_factory=collections.Counter)
    lookalike_warnings: int = 0
    enrolled: int = 0
    probes: int = 0
    right: int = 0
    wrong: int = 0
    not_recognised: collections.Counter = field(default_factory=collections.Counter)
    strangers: int = 0
    strangers_in: int = 0
    seconds: float = 0.0

    def row(self, name: str) -> str:
        return (
            f"{name:<26} {sum(self.refused.values()):>4} {self.enrolled:>5} "
            f"{self.right / self.probes:>7.3f} {self.wrong / self.probes:>7.3f} {self.strangers_in / self.strangers:>9.3f}"
            f" {self.seconds:>7.0f}"
        )

    def summary(self) -> dict:
        return {
            "enrolment_refusals": dict(self.refused),
            "lookalike_warnings": self.lookalike_warnings,
            "enrolled": self.enrolled,
            "probes": self.probes,
            "rank1": self.right / self.probes,
            "wrong_person": self.wrong / self.probes,
            "not_recognised": dict(self.not_recognised),
            "strangers": self.strangers,
            "strangers_accepted": self.strangers_in / self.strangers,
            "seconds": self.seconds,
        }


def lfw_people(people_file: Path) -> dict[str, int]:
    counts = {}
    for line in people_file.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and not fields[0].isdigit():
            counts[fields[0]] = int(fields[1])
    return counts


def photo(images: Path, person: str, n: int) -> Path:
    return images / person / f"{person}_{n:04d}.jpg"


def run_kiosk(
    model: Path,
    images: Path,
    enrol: list[str],
    probes: list[tuple[str, Path]],
    strangers: list[Path],
    settings: RecognitionSettings,
    refuse_lookalikes: bool,
) -> tuple[Tally, dict]:
    encoder = build_encoder(model, threads=1)
    recognizer = Recognizer(encoder, settings)
    version = encoder.embedder.contract.version
    tally, started = Tally(), time.perf_counter()
    names: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "kiosk.db")
        for person in tqdm(enrol, desc="kiosk enrol", unit="person"):
            try:  # what 'kiosk enroll' does
                ref = make_reference(encoder, read_photo(photo(images, person, 1)))
            except EnrollmentError as exc:
                tally.refused[str(exc).split(".")[0]] += 1
                continue
            gallery = store.gallery(version)
            if lookalikes(gallery, ref.embedding, recognizer.thresholds(len(gallery) + 1).good):
                # The manager sees both photos side by side and confirms they are different people.
                tally.lookalike_warnings += 1
                if refuse_lookalikes:
                    tally.refused["looks like someone enrolled"] += 1
                    continue
            employee_id = store.add_employee(
                person, image=ref.image, face=ref.face, crop=ref.crop, embedding=ref.embedding, model_version=version
            )
            names[employee_id] = person
        gallery = store.gallery(version)
        store.close()
    tally.enrolled = len(gallery)

    app = Application(store, recognizer, AttendanceSettings(), "benchmark")

    def decide(path: Path) -> tuple[str | None, str]:
        result = identify_photo(str(path), app, gallery)  # what 'kiosk identify' does
        if result.get("decision") == "accepted":
            return names[result["employee_id"]], "accepted"
        if "distance" in result:
            return None, f"{result['quality']} face beyond threshold or margin"
        return None, f"refused by the gate: {result.get('quality_reason') or result.get('error')}"

    count(tally, "kiosk", decide, probes, strangers)
    tally.seconds = time.perf_counter() - started
    thresholds = recognizer.thresholds(len(gallery))
    return tally, {
        "model": version,
        "threshold_good": thresholds.good,
        "threshold_fair": thresholds.fair,
        "margin_fraction": settings.margin_fraction,
        "stranger_accept_rate": settings.stranger_accept_rate,
    }


def count(tally: Tally, who_decides: str, decide, probes: list[tuple[str, Path]], strangers: list[Path]) -> None:
    """Every probe and stranger through ``decide(path) -> (person or None, why)``."""
    for person, path in tqdm(probes, desc=f"{who_decides} probes", unit="photo"):
        tally.probes += 1
        who, why = decide(path)
        if who == person:
            tally.right += 1
        elif who is not None:
            tally.wrong += 1
        else:
            tally.not_recognised[why] += 1
    for path in tqdm(strangers, desc=f"{who_decides} strangers", unit="photo"):
        tally.strangers += 1
        tally.strangers_in += decide(path)[0] is not None


def run_face_recognition(
    images: Path, enrol: list[str], probes: list[tuple[str, Path]], strangers: list[Path], tolerance: float = 0.6
) -> Tally:
    import face_recognition

    tally, started = Tally(), time.perf_counter()

    def encode(path: Path):
        image = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(image)
        if not boxes:
            return None
        largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        return face_recognition.face_encodings(image, known_face_locations=[largest])[0]

    known, names = [], []
    for person in tqdm(enrol, desc="face_recognition enrol", unit="person"):
        encoding = encode(photo(images, person, 1))
        if encoding is None:
            tally.refused["no face found"] += 1
            continue
        known.append(encoding)
        names.append(person)
    tally.enrolled = len(known)
    known = np.array(known)

    def decide(path: Path) -> tuple[str | None, str]:
        encoding = encode(path)
        if encoding is None:
            return None, "no face found"
        distances = face_recognition.face_distance(known, encoding)
        best = int(np.argmin(distances))
        return (names[best], "accepted") if distances[best] <= tolerance else (None, "above tolerance")

    count(tally, "face_recognition", decide, probes, strangers)
    tally.seconds = time.perf_counter() - started
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(BUNDLED_MODEL))
    parser.add_argument("--lfw", default=str(LFW))
    parser.add_argument(
        "--stranger-rate",
        type=float,
        default=RecognitionSettings().stranger_accept_rate,
        help="the kiosk's target stranger-accept rate per decision (default: the kiosk's, %(default)s)",
    )
    parser.add_argument(
        "--margin-fraction",
        type=float,
        default=RecognitionSettings().margin_fraction,
        help="runner-up margin as a fraction of the threshold (default: the kiosk's, %(default)s)",
    )
    parser.add_argument(
        "--refuse-lookalikes",
        action="store_true",
        help="do not enrol faces the look-alike check warns about (by default the manager confirms them, as on the admin page)",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N enrolled people and N strangers")
    parser.add_argument("--skip-face-recognition", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    lfw = Path(args.lfw)
    images = lfw / "images_deepfunneled"
    if not images.is_dir():
        print(f"LFW not found at {lfw}", file=sys.stderr)
        return 2
    counts = lfw_people(lfw / "peopleDevTest.txt")
    enrol = sorted(p for p, n in counts.items() if n >= 2)
    single = sorted(p for p, n in counts.items() if n == 1)
    if args.limit:
        enrol, single = enrol[: args.limit], single[: args.limit]
    probes = [(p, photo(images, p, i)) for p in enrol for i in range(2, counts[p] + 1)]
    strangers = [photo(images, p, 1) for p in single]
    print(f"{len(enrol)} people enrolled from one photo each, {len(probes)} other photos of them, {len(strangers)} strangers")

    settings = RecognitionSettings(stranger_accept_rate=args.stranger_rate, margin_fraction=args.margin_fraction)
    kiosk, settings = run_kiosk(Path(args.model), images, enrol, probes, strangers, settings, args.refuse_lookalikes)
    results = {"kiosk": {**settings, **kiosk.summary()}}
    rows = [kiosk.row(f"kiosk ({settings['model']})")]
    if not args.skip_face_recognition:
        try:
            fr = run_face_recognition(images, enrol, probes, strangers)
            results["face_recognition"] = {"tolerance": 0.6, **fr.summary()}
            rows.append(fr.row("face_recognition (0.6)"))
        except ImportError:
            print("face_recognition is not installed: pip install --no-deps face_recognition", file=sys.stderr)
    print(
        f"\nkiosk thresholds {settings['threshold_good']:.4f} (good faces) and {settings['threshold_fair']:.4f} (fair faces): "
        f"target stranger rate {args.stranger_rate} for {kiosk.enrolled} people; margin {args.margin_fraction} of the threshold"
    )
    print(f"{'':<26} {'refused':>4} {'enrolled':>5} {'rank-1':>7} {'wrong':>7} {'strangers':>9} {'seconds':>7}")
    print("\n".join(rows))
    print(
        f"\nkiosk: enrolment refusals {dict(kiosk.refused)}; look-alike warnings confirmed {kiosk.lookalike_warnings}; "
        f"not recognised {dict(kiosk.not_recognised)}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
