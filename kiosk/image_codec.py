"""How faces are kept in the database: PNG bytes for crops and images, and a
small JSON text for a detected face (box, score, keypoints)."""

from __future__ import annotations

import json

import cv2
import numpy as np

from kiosk.detection import Detection


def encode_png(image_rgb: np.ndarray) -> bytes:
    """An RGB image as PNG bytes (lossless, so a later model re-embeds exactly what was enrolled)."""
    ok, data = cv2.imencode(".png", image_rgb[:, :, ::-1])
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return data.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes as an RGB image."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def face_to_json(face: Detection) -> str:
    return json.dumps(
        {"box": face.box.round(2).tolist(), "score": round(float(face.score), 4), "keypoints": face.keypoints.round(2).tolist()}
    )


def face_from_json(text: str) -> Detection:
    data = json.loads(text)
    return Detection(np.array(data["box"], np.float32), float(data["score"]), np.array(data["keypoints"], np.float32))
