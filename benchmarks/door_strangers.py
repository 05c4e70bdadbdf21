"""How often a stranger is welcomed at the door, measured on many stranger walk-ups
rather than the 125 of a working week.

    .venv/bin/python benchmarks/door_strangers.py [--rates 0.01 0.02] [--out FILE]

The staff are benchmarks/door_week.py's: every LFW DevTest person with five or
more photos, enrolled from photo 1 through the kiosk's enrolment. The strangers
are every DevTest person with a single photo (1,215), each walking up once as
door_week makes a stranger's walk-up (far, looking aside, a blurred step, close).
Each frame is embedded once by the kiosk's encoder; the frames then go through
the visit rules (kiosk.visits.step, fused evidence) with the recogniser's own
judge (Recognizer.opinion, the thresholds for the gallery and the tier), as the
loop calls them, at each ``stranger_accept_rate`` asked for. Reported: the
strangers welcomed as anyone, as a share of the walk-ups, against the rate the
thresholds were designed for (the union bound over the gallery; the fused
table was measured for the mean of three photos, which a walk-up's evidence
is not quite, so the two differ).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.door_week import LFW, WalkUp, choose_staff, devtest, photo, read_photo  # noqa: E402
from benchmarks.door_week_replay import FPS, embed_walk_up  # noqa: E402
from kiosk import visits  # noqa: E402
from kiosk.composition import build_encoder  # noqa: E402
from kiosk.config import BUNDLED_MODELS, QualitySettings, RecognitionSettings  # noqa: E402
from kiosk.enrollment import EnrollmentError, make_reference  # noqa: E402
from kiosk.matching import l2_normalize  # noqa: E402
from kiosk.recognition import Recognizer  # noqa: E402
from kiosk.store_rows import Gallery  # noqa: E402
from kiosk.visits import Seen, VisitSettings  # noqa: E402


def embedded_walk_up(encoder, walkup: WalkUp) -> list[Seen]:
    """What the visit rules see of each frame (a repeated frame is embedded once)."""
    return [Seen(f.face, f.tier, f.embedding) for f in embed_walk_up(encoder, walkup, keep=False)]


def welcomed(recognizer: Recognizer, gallery: Gallery, frames: list[Seen]) -> bool:
    """Whether the visit named anyone."""
    visit, now, rules = visits.Visit(), 0.0, VisitSettings()

    def judge(embedding, tier):
        return recognizer.opinion(embedding, tier, gallery)

    for seen in frames:
        now += 1 / FPS
        visit, events = visits.step(visit, seen, now, rules, judge)
        if any(isinstance(e, visits.Recognised) for e in events):
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=LFW)
    parser.add_argument("--rates", type=float, nargs="+", default=sorted({0.01, RecognitionSettings().stranger_accept_rate}))
    parser.add_argument("--limit", type=int, help="only this many strangers (a quick look)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    encoder = build_encoder(BUNDLED_MODELS["default"], threads=1, quality=QualitySettings())
    counts = devtest(args.lfw)
    references = []
    for person in choose_staff(counts, None, 0):
        try:
            references.append(make_reference(encoder, read_photo(photo(args.lfw, person, 1))).embedding)
        except EnrollmentError:
            pass
    gallery = Gallery(np.arange(len(references)), [str(i) for i in range(len(references))], l2_normalize(np.stack(references)), 0)
    strangers = sorted(p for p, n in counts.items() if n == 1)[: args.limit]
    walk_ups = [
        embedded_walk_up(encoder, WalkUp(0, p, True, photo(args.lfw, p, 1), photo(args.lfw, p, 1)))
        for p in tqdm(strangers, desc="stranger walk-ups", unit="walk-up")
    ]
    figures = {"staff": len(references), "strangers": len(walk_ups), "rates": {}}
    for rate in args.rates:
        recognizer = Recognizer(encoder, RecognitionSettings(stranger_accept_rate=rate))
        count = sum(welcomed(recognizer, gallery, frames) for frames in walk_ups)
        figures["rates"][str(rate)] = {"welcomed": count, "percent": round(100 * count / len(walk_ups), 2)}
        print(
            f"designed for {rate:.1%} a visit: {count} of {len(walk_ups)} strangers welcomed ({100 * count / len(walk_ups):.2f}%)"
        )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
