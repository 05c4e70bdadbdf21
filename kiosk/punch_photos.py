"""A small photo of the face behind each punch (table ``punch_photos``,
schema 6): what the manager sees beside the punch in the admin pages, kept
``[attendance] punch_photo_days`` and then deleted by the kiosk itself."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np

from kiosk.detection import Detection

PHOTO_SIZE = 128  # px, a square around the face: enough to tell who it was, small enough to keep for a month
JPEG_QUALITY = 80
FACE_SCALE = 1.8  # the square is this many face-box widths wide (hair and chin, not the room)


def face_photo(frame_bgr: np.ndarray, face: Detection) -> bytes:
    """A PHOTO_SIZE square JPEG around ``face``, as a person would recognise them."""
    x1, y1, x2, y2 = (float(v) for v in face.box)
    side = FACE_SCALE * max(x2 - x1, y2 - y1, 1.0)
    scale = PHOTO_SIZE / side
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    matrix = np.array([[scale, 0, PHOTO_SIZE / 2 - scale * centre_x], [0, scale, PHOTO_SIZE / 2 - scale * centre_y]])
    square = cv2.warpAffine(frame_bgr, matrix, (PHOTO_SIZE, PHOTO_SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    ok, data = cv2.imencode(".jpg", square, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("could not encode the punch photo")
    return data.tobytes()


class PunchPhotos:
    """The ``punch_photos`` table of a store."""

    def __init__(self, store):
        self.store = store

    @property
    def db(self):
        return self.store.db

    def keep(self, entry_id: int, taken: dt.datetime, jpeg: bytes) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO punch_photos VALUES (?, ?, ?)", (entry_id, taken.isoformat(), jpeg))

    def photo(self, entry_id: int) -> bytes | None:
        row = self.db.execute("SELECT jpeg FROM punch_photos WHERE entry_id = ?", (entry_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def which(self, entry_ids: list[int]) -> set[int]:
        """Those of ``entry_ids`` that have a photo."""
        found: set[int] = set()
        for start in range(0, len(entry_ids), 500):
            part = entry_ids[start : start + 500]
            sql = f"SELECT entry_id FROM punch_photos WHERE entry_id IN ({','.join('?' * len(part))})"
            found.update(r[0] for r in self.db.execute(sql, part))
        return found

    def forget_before(self, cutoff: dt.datetime) -> int:
        """Delete photos taken before ``cutoff``; returns how many."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            # ISO text with offsets does not sort across offsets: compare as moments.
            old = [
                r[0]
                for r in self.db.execute("SELECT entry_id, taken FROM punch_photos")
                if dt.datetime.fromisoformat(r[1]) < cutoff
            ]
            for start in range(0, len(old), 500):
                part = old[start : start + 500]
                self.db.execute(f"DELETE FROM punch_photos WHERE entry_id IN ({','.join('?' * len(part))})", part)
        return len(old)
