"""``trainer calibrate-fused``: the false-accept table for fused evidence.

The door judges the mean of a visit's face embeddings (kiosk.visits). A mean
of several pictures of one face lies nearer that face's centre than any one
picture, and other people's photos are then nearer too: on LFW DevTest the
single-pair table's 1e-3 threshold let through 2.3e-3 of the impostor pairs
for the mean of 2 photos and 3.2e-3 for 3 (benchmarks/fused_threshold.py).
This measures the table for the mean of ``photos`` photos of person A
against one photo of person B, on calibration people only (LFW DevTrain:
never the people the benchmarks evaluate on), and writes it into the
model's sidecar as ``fused_far_thresholds``.

It also measures ``extra_picture_weight``: what each further picture of a
person (a template learnt at the door, a photo added by the admin) adds to a
stranger's chance of matching them, against what their first picture gives.
The pictures of one face are alike, so a stranger near one is often near the
others: on DevTrain a sixth picture brought a stranger's chance to about 3.4
times one picture's, not 6 times.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from kiosk.contract import load_contract, sidecar_of
from kiosk.visits import Evidence, Seen, VisitSettings
from trainer.export import FAR_TABLE, MIN_IMPOSTORS

# A person with this many usable photos gives one fused probe and keeps one for enrolment. A walk-up's frames are
# many, but they are one visit's: about as far apart as two photos (door_strangers.py: with the table for three,
# strangers got in at about half the rate the table was set for).
FUSED_PHOTOS = 2
# The extra-picture weight: people with this many photos (an enrolment photo and max_templates' default
# of 5 more) against the first photo of everyone with fewer, at this pair false-accept rate.
PICTURES = 6
WEIGHT_RATE = 1e-3


def embed_people(encoder, images: Path, people: list[tuple[str, int]], progress: bool = True) -> dict[str, list[Seen]]:
    """Each person's usable photos in order, as the door sees a face (tier and embedding)."""
    found: dict[str, list[Seen]] = {}
    for name, count in tqdm(people, desc="embedding", unit="person", disable=not progress):
        for i in range(1, count + 1):
            quality, _, embedding = encoder.encode(cv2.imread(str(images / name / f"{name}_{i:04d}.jpg")))
            if embedding is not None:
                found.setdefault(name, []).append(Seen(face=True, tier=quality.tier, embedding=embedding))
    return found


def fuse(pictures: list[Seen]) -> Evidence:
    """The door's fusion of these faces (kiosk.visits: fair ones at their weight)."""
    evidence = Evidence()
    for seen in pictures:
        evidence = evidence.add(seen, VisitSettings())
    return evidence


def read_people(path: Path) -> list[tuple[str, int]]:
    """A people file (``peopleDevTrain.txt``): a count line, then name and photo count per line."""
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if "\t" in line]
    return [(name, int(count)) for name, count in rows]


def fused_impostor_distances(photos: dict[str, list[Seen]], k: int) -> np.ndarray:
    """Distances from the mean of k photos of each person (after their first) to the first photo of everyone else."""
    names = sorted(photos)
    enrolment = np.stack([photos[n][0].embedding for n in names])
    found = []
    for a, name in enumerate(names):
        rest = photos[name][1:]
        for start in range(0, len(rest) - k + 1, k):
            d = 1.0 - enrolment @ fuse(rest[start : start + k]).mean()
            found.append(np.delete(d, a))
    return np.concatenate(found) if found else np.zeros(0)


def extra_picture_weight(photos: dict[str, list[Seen]], pictures: int = PICTURES, rate: float = WEIGHT_RATE) -> float:
    """At the distance under which ``rate`` of strangers match a person's first picture, how much each
    of their next ``pictures - 1`` pictures adds to a stranger's chance of matching any of them, as a
    fraction of the first's: the mean over k of (chance with k pictures / chance with one - 1) / (k - 1).
    The people with ``pictures`` photos are the gallery; the first photos of everyone else, the strangers."""
    gallery = [np.stack([s.embedding for s in p[:pictures]]) for p in photos.values() if len(p) >= pictures]
    strangers = np.stack([p[0].embedding for p in photos.values() if len(p) < pictures])
    if not gallery or rate * len(gallery) * len(strangers) < MIN_IMPOSTORS:
        raise ValueError(f"too few people with {pictures} photos, or strangers, to measure the extra-picture weight")
    distances = np.stack([1.0 - strangers @ person.T for person in gallery], axis=1)  # (strangers, people, pictures)
    threshold = np.quantile(distances[:, :, 0], rate)
    first = float((distances[:, :, 0] < threshold).mean())
    weights = [((distances[:, :, :k].min(2) < threshold).mean() / first - 1) / (k - 1) for k in range(2, pictures + 1)]
    return float(np.clip(np.mean(weights), 0.01, 1.0))


def far_table(impostors: np.ndarray) -> dict[float, float]:
    """The distance under which each rate of impostor pairs falls, where enough pairs fall under it to tell."""
    ordered = np.sort(impostors)
    return {far: float(ordered[int(far * len(ordered)) - 1]) for far in FAR_TABLE if far * len(ordered) >= MIN_IMPOSTORS}


def calibrate_fused(model: Path, images: Path, people_file: Path, photos: int = FUSED_PHOTOS) -> dict:
    """Measure the fused table on ``people_file``'s people and write it into ``model``'s sidecar; returns a summary."""
    from kiosk.composition import build_encoder

    contract = load_contract(model)
    # Everyone: the one-photo people are the strangers of the extra-picture weight.
    embedded = embed_people(build_encoder(model, threads=1), images, read_people(people_file))
    impostors = fused_impostor_distances({n: p for n, p in embedded.items() if len(p) >= photos + 1}, photos)
    table = far_table(impostors)
    if not table:
        raise ValueError(f"{people_file}: too few people with {photos + 1} usable photos to calibrate on")
    weight = round(extra_picture_weight(embedded), 3)
    metrics = {
        **contract.metrics,
        "fused_calibration": {
            "photos_fused": photos,
            "people": sum(len(p) >= photos + 1 for p in embedded.values()),
            "impostor_pairs": int(impostors.size),
            "calibrated_on": people_file.name,
            "extra_picture_weight": {"pictures": PICTURES, "at_pair_rate": WEIGHT_RATE, "weight": weight},
        },
    }
    contract.sidecar_path.write_text(
        json.dumps(sidecar_of(contract, fused_far_thresholds=table, extra_picture_weight=weight, metrics=metrics), indent=2)
        + "\n"
    )
    return {
        "sidecar": str(contract.sidecar_path),
        "fused_far_thresholds": table,
        **metrics["fused_calibration"],
        "extra_picture_weight": weight,
    }
