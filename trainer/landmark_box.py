"""``trainer fit-landmark-box``: where dlib's face detector boxes a face,
relative to what BlazeFace finds, so dlib's landmark model starts where it
was trained to (:func:`kiosk.landmarks.dlib_face_square`).

On training-side LFW images where dlib's HOG detector found the face (its
boxes are in the lfw-dlib descriptors file), the box centre is expressed in
BlazeFace eye distances from the eyes' midpoint, along and across the eye
line, and the box side in BlazeFace box widths; the kiosk uses their means.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from kiosk.detection import Detector
from trainer.lfw import read_people
from trainer.prepare import central_face


def fit_landmark_box(
    images: Path, descriptors: Path, people_file: Path, detector: Detector, limit: int = 1200, progress: bool = True
) -> dict:
    allowed = read_people(people_file)
    with np.load(descriptors) as data:
        paths = data["paths"].astype(str)
        boxes, detected = data["box_trbl"], data["detected"]
    rows = [i for i, p in enumerate(paths) if p.split("/")[0] in allowed and detected[i]]
    rows = rows[:: max(1, len(rows) // limit)][:limit]
    centres, sides = [], []
    for i in tqdm(rows, desc="faces", unit="img", disable=None if progress else True):
        image = cv2.imread(str(images / paths[i]), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{images / paths[i]}: image missing or unreadable")
        faces = detector.detect(image, bgr=True)
        if not faces:
            continue
        face = central_face(faces, image.shape)
        top, right, bottom, left = boxes[i].astype(np.float64)
        left_eye, right_eye = face.keypoints[0].astype(np.float64), face.keypoints[1].astype(np.float64)
        along = right_eye - left_eye
        distance = np.linalg.norm(along)
        along /= distance
        across = np.array([-along[1], along[0]])
        offset = np.array([(left + right) / 2, (top + bottom) / 2]) - (left_eye + right_eye) / 2
        centres.append([offset @ along / distance, offset @ across / distance])
        sides.append((right - left) / float(face.box[2] - face.box[0]))
    centres, sides = np.array(centres), np.array(sides)
    return {
        "centre_from_eyes": centres.mean(0).round(4).tolist(),
        "centre_spread": centres.std(0).round(4).tolist(),
        "side_per_box_width": round(float(sides.mean()), 4),
        "side_spread": round(float(sides.std()), 4),
        "faces": len(sides),
        "people_file": people_file.name,
    }
