"""Camera frames of someone walking up to the kiosk, made from LFW photos (for
the loop's end-to-end tests and ``benchmarks/time_to_welcome.py``)."""

import cv2
import numpy as np

LFW_FACE_WIDTH = 110  # about how wide a face is in a 250 px deep-funneled LFW photo
EMPTY = np.full((480, 640, 3), 96, np.uint8)


def on_canvas(photo, face_width: float, centre=(320, 250)) -> np.ndarray:
    """The photo as a 640x480 camera sees it with the face ``face_width`` px wide."""
    scale = face_width / LFW_FACE_WIDTH
    image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    frame = EMPTY.copy()
    h, w = image.shape[:2]
    x0, y0 = centre[0] - w // 2, centre[1] - h // 2
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(640, x0 + w), min(480, y0 + h)
    frame[fy0:fy1, fx0:fx1] = image[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return frame


def walk_up(frontal, turned) -> list[np.ndarray]:
    """From about 3 m away (a 30 px face) towards the kiosk, looking aside on the
    way in (until 200 px), a blurred moment, then facing the camera: nothing
    good enough to vote comes before the last part."""
    frames = [on_canvas(frontal, w) for w in np.linspace(30, 60, 6)]
    frames += [on_canvas(turned, w) for w in np.linspace(80, 200, 8)]
    frames += [cv2.GaussianBlur(on_canvas(frontal, 190), (0, 0), 4)] * 4
    frames += [on_canvas(frontal, 190 + (i % 3) * 5, (320 + i, 250)) for i in range(15)]
    return frames
