"""Face embeddings from an aligned crop, through a model and its contract."""

from __future__ import annotations

import numpy as np

from kiosk.contract import ContractError, ModelContract, load_contract
from kiosk.inference import TFLiteModel
from kiosk.matching import l2_normalize


class Embedder:
    """Loads a model once; ``embed(crop)`` takes an aligned RGB uint8 crop of
    ``input_size`` and returns a unit vector (the mean of the crop's and its
    mirror image's embeddings when the sidecar asks for ``flip_average``)."""

    def __init__(self, contract: ModelContract, model: TFLiteModel):
        shape = model.input_shape
        if shape[1:3] != (contract.input_size, contract.input_size):
            raise ContractError(
                f"{contract.sidecar_path}: input_size {contract.input_size} does not match the model's input {shape[1:3]}"
            )
        out = int(model.outputs[0]["shape"][-1])
        if out != contract.embedding_size:
            raise ContractError(f"{contract.sidecar_path}: embedding_size {contract.embedding_size} but the model outputs {out}")
        self.contract = contract
        self.model = model

    @classmethod
    def load(cls, model_path, *, num_threads: int = 1, edgetpu: bool = False) -> Embedder:
        contract = load_contract(model_path)
        return cls(contract, TFLiteModel(contract.model_path, num_threads=num_threads, edgetpu=edgetpu))

    @property
    def input_size(self) -> int:
        return self.contract.input_size

    def embed(self, crop_rgb: np.ndarray) -> np.ndarray:
        if crop_rgb.shape != (self.input_size, self.input_size, 3):
            raise ValueError(f"expected a {self.input_size}x{self.input_size} RGB crop, got {crop_rgb.shape}")
        if self.contract.color_order == "BGR":
            crop_rgb = crop_rgb[:, :, ::-1]
        x = (crop_rgb.astype(np.float32) - self.contract.mean) / self.contract.std
        embedding = l2_normalize(self.model.run(x[None])[0][0])
        if self.contract.flip_average:
            embedding = l2_normalize(embedding + l2_normalize(self.model.run(x[None, :, ::-1])[0][0]))
        return embedding
