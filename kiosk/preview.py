"""The camera picture on the kiosk screen: small, mirrored, the face outlined.

A pure function from a frame and what the gate saw to JPEG bytes; the loop
calls it at most ``fps`` times a second, and only while someone watches.
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH = 320
QUALITY = 70
GOOD_COLOUR = (80, 200, 80)  # BGR
FAIR_COLOUR = (40, 170, 230)


def render(frame_bgr: np.ndarray, box: np.ndarray | None, good: bool, width: int = WIDTH) -> bytes:
    """``width`` px wide, mirrored like a looking glass, with the face box
    (green when it passes the gate, amber when it does not)."""
    h, w = frame_bgr.shape[:2]
    scale = width / w
    small = cv2.resize(frame_bgr, (width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    small = np.ascontiguousarray(small[:, ::-1])
    if box is not None:
        x1, y1, x2, y2 = (np.asarray(box, np.float64) * scale).tolist()
        # mirrored: x runs the other way
        cv2.rectangle(
            small,
            (round(width - x2), round(y1)),
            (round(width - x1), round(y2)),
            GOOD_COLOUR if good else FAIR_COLOUR,
            2,
            cv2.LINE_AA,
        )
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise ValueError("could not encode the preview")
    return data.tobytes()


class PreviewFeed:
    """Renders the preview into ``state`` (a kiosk.status.PreviewState) at most
    ``fps`` times a second, and only while someone watches it."""

    def __init__(self, state, fps: float):
        self.state, self.interval = state, 1.0 / fps
        self._last = float("-inf")

    def offer(self, frame_bgr: np.ndarray, box: np.ndarray | None, good: bool, now: float) -> None:
        if self.state.viewers <= 0 or now - self._last < self.interval:
            return
        self._last = now
        self.state.publish(render(frame_bgr, box, good))
