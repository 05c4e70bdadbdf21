"""Embedding a face cache with a Keras model or an exported ``.tflite``."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from trainer.data import normalise


def embed_keras(model, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
    out = [model.predict_on_batch(normalise(crops[i : i + batch_size])) for i in range(0, len(crops), batch_size)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def embed_tflite(embedder, crops: np.ndarray, progress: bool = True) -> np.ndarray:
    """``embedder`` is a :class:`kiosk.embedding.Embedder` (one image at a time, batch of 1)."""
    return np.stack([embedder.embed(crop) for crop in tqdm(crops, desc="embed", unit="face", disable=None if progress else True)])


def pair_distances(embeddings: np.ndarray, index: dict[str, int], pairs) -> np.ndarray:
    a = embeddings[[index[p.left] for p in pairs]]
    b = embeddings[[index[p.right] for p in pairs]]
    return 1.0 - np.sum(a * b, axis=1)
