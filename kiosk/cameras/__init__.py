"""Camera sources behind one small protocol: ``read() -> BGR frame | None``.

Adapters for hardware import their libraries lazily (picamera2 exists only on
a Pi); :func:`open_camera` in the composition root picks one by config.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class CameraError(RuntimeError):
    pass


class Camera(Protocol):
    name: str

    def read(self) -> np.ndarray | None:
        """The next BGR frame; None when the source has ended. Raises CameraError on faults."""

    def close(self) -> None: ...
