"""Embeddings of photos through the kiosk's enrolment path, and the comparison
of two machines' results (``scripts/pi-emulated.sh`` runs it on this machine
and inside the emulated arm64 root).

    python scripts/arm64_parity.py embed PHOTO... > embeddings.jsonl
    python scripts/arm64_parity.py compare X86_DIR ARM64_DIR

A results folder holds ``embeddings.jsonl`` (this script's ``embed``),
``enrol.jsonl`` (``kiosk enroll`` output, or the error, one line per photo)
and ``identify.jsonl`` (``kiosk identify``). ``compare`` passes when every
embedding agrees (cosine similarity above 0.99) and every enrolment and
identify decision is the same; it prints one line per photo either way.
Only the kiosk is imported: it runs where TensorFlow is not installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

MIN_COSINE = 0.99


def embed(photos: list[str]) -> int:
    from kiosk.composition import build_encoder
    from kiosk.config import BUNDLED_MODEL
    from kiosk.enrollment import EnrollmentError, make_reference, read_photo

    encoder = build_encoder(BUNDLED_MODEL)
    for photo in photos:
        try:
            embedding = make_reference(encoder, read_photo(photo)).embedding
            line = {"photo": Path(photo).name, "embedding": [round(float(v), 6) for v in embedding]}
        except EnrollmentError as exc:
            line = {"photo": Path(photo).name, "error": str(exc)}
        print(json.dumps(line), flush=True)
    return 0


def _lines(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"{path}: missing (run scripts/pi-emulated.sh, which writes it)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _by_photo(rows: list[dict]) -> dict[str, dict]:
    return {Path(r["photo"]).name: r for r in rows}


def _decision(row: dict) -> tuple:
    """What must be identical on both machines (distances may differ slightly)."""
    return tuple(row.get(k) for k in ("error", "decision", "name", "quality", "quality_reason", "id"))


def compare(x86: Path, arm: Path) -> int:
    failures = 0
    a, b = _by_photo(_lines(x86 / "embeddings.jsonl")), _by_photo(_lines(arm / "embeddings.jsonl"))
    if a.keys() != b.keys():
        print(f"different photos: {sorted(a.keys() ^ b.keys())}")
        return 1
    cosines = []
    for photo in sorted(a):
        if "embedding" not in a[photo] or "embedding" not in b[photo]:
            same = a[photo].get("error") == b[photo].get("error")
            failures += not same
            print(
                f"{'ok  ' if same else 'FAIL'} {photo}: no face on {'both' if same else 'one'} ({a[photo].get('error') or b[photo].get('error')})"
            )
            continue
        u, v = np.asarray(a[photo]["embedding"]), np.asarray(b[photo]["embedding"])
        cosine = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
        cosines.append(cosine)
        failures += cosine <= MIN_COSINE
        print(f"{'ok  ' if cosine > MIN_COSINE else 'FAIL'} {photo}: embedding cosine {cosine:.6f}")
    for name in ("enrol.jsonl", "identify.jsonl"):
        a, b = _by_photo(_lines(x86 / name)), _by_photo(_lines(arm / name))
        for photo in sorted(a.keys() | b.keys()):
            da, db = _decision(a.get(photo, {})), _decision(b.get(photo, {}))
            failures += da != db
            print(f"{'ok  ' if da == db else 'FAIL'} {photo}: {name.split('.')[0]} x86 {da} / arm64 {db}")
    if cosines:
        print(f"embeddings: {len(cosines)} photos, lowest cosine {min(cosines):.6f} (must be > {MIN_COSINE})")
    print("arm64 parity: " + ("PASSED" if failures == 0 else f"FAILED ({failures} differences)"))
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "embed":
        return embed(argv[1:])
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
