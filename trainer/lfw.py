"""Readers for LFW's protocol files (pairs and people lists)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    left: str  # image path relative to the images folder
    right: str
    same: bool
    fold: int


def image_path(name: str, number: int) -> str:
    return f"{name}/{name}_{number:04d}.jpg"


def read_pairs(path: str | Path) -> list[Pair]:
    """Parse a pairs file: header ``folds pairs_per_half`` (or just a count),
    then ``name i j`` (match) or ``name1 i name2 j`` (mismatch) lines."""
    path = Path(path)
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path}: empty pairs file")
    header = [int(v) for v in lines[0]]
    folds, per_half = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    pairs = []
    for n, fields in enumerate(lines[1:]):
        fold = n // (2 * per_half) if folds > 1 else 0
        if len(fields) == 3:
            pairs.append(Pair(image_path(fields[0], int(fields[1])), image_path(fields[0], int(fields[2])), True, fold))
        elif len(fields) == 4:
            pairs.append(Pair(image_path(fields[0], int(fields[1])), image_path(fields[2], int(fields[3])), False, fold))
        else:
            raise ValueError(f"{path}:{n + 2}: expected 3 or 4 fields, got {len(fields)}")
    if len(pairs) != folds * 2 * per_half:
        raise ValueError(f"{path}: header promises {folds * 2 * per_half} pairs, found {len(pairs)}")
    return pairs


def read_people(path: str | Path) -> set[str]:
    """Names from a ``people*.txt`` file (``name count`` lines; fold headers are skipped)."""
    names = set()
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and not fields[0].isdigit():
            names.add(fields[0])
    return names
