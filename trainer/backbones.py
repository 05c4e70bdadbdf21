"""The Siamese backbones the trainer can fit and export, by name.

Each names the input size and the alignment its crops must have (the
sidecar's ``alignment``, implemented by :mod:`kiosk.alignment`), how to build
it from a run's config, and which layers ``fit --freeze-stages N`` keeps fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from kiosk.contract import ALIGNMENTS


@dataclass(frozen=True)
class Backbone:
    name: str
    input_size: int | None  # None: any (taken from the face cache)
    alignment: str
    build: Callable[[dict], keras.Model]
    stages: tuple[str, ...] = ()  # layer-name prefixes, input first, for freezing
    init: tuple[str, ...] = ()  # pretrained weights 'fit --init' can start from

    def __post_init__(self):
        assert self.alignment in ALIGNMENTS, self.alignment

    def frozen_prefixes(self, stages: int) -> tuple[str, ...]:
        if stages > len(self.stages):
            raise ValueError(f"backbone {self.name} has {len(self.stages)} stages; cannot freeze {stages}")
        return self.stages[:stages]


def _mobilefacenet(config: dict) -> keras.Model:
    from trainer.model import build_embedding_model

    return build_embedding_model(config["input_size"], config["embedding_size"], config["width"])


def _dlib_resnet(config: dict) -> keras.Model:
    from trainer.dlib_resnet import build_dlib_resnet

    return build_dlib_resnet(config["embedding_size"])


BACKBONES = {
    "mobilefacenet64": Backbone("mobilefacenet64", None, "arcface112", _mobilefacenet, ("stem", "s0", "s1", "s2")),
    "dlib-resnet": Backbone(
        "dlib-resnet",
        150,
        "dlib150",
        _dlib_resnet,
        ("stem", "level4", "level3", "level2", "level1", "level0"),
        ("dlib",),
    ),
}


def backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    return BACKBONES[name]


def build(config: dict) -> keras.Model:
    """The embedding network a run's ``config.json`` describes (runs from
    before backbones existed are ``mobilefacenet64``)."""
    return backbone(config.get("backbone", "mobilefacenet64")).build(config)


def load_pretrained(model: keras.Model, source: str) -> None:
    """``fit --init dlib``: dlib's own weights, read from the installed face-recognition-models package."""
    if source != "dlib":
        raise ValueError(f"unknown pretrained weights {source!r}; only 'dlib' (dlib-resnet) is known")
    from trainer.data import PIXEL_MEAN, PIXEL_STD
    from trainer.dlib_dnn import default_model_path, read_resnet
    from trainer.dlib_resnet import load_dlib_weights

    load_dlib_weights(model, read_resnet(default_model_path()), PIXEL_MEAN, PIXEL_STD)
