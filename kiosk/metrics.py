"""Prometheus metrics of one kiosk, served at ``/metrics`` (``kiosk.web.metrics_page``).

Two kinds of figure. What the loop does (frames, time per stage, decisions)
is counted as it happens: :class:`KioskMetrics` is the loop's observer
(``kiosk.loop_observer``). What the kiosk *is* (the camera, the gallery, the
disk, the fleet's outbox) is read from ``Status`` and the sync state when
Prometheus scrapes, by :class:`StateCollector`, so the loop writes nothing
more for it. No label ever holds a name or an employee id: stages and
decision kinds come from the code, never from the people at the door.

Everything lives in a private ``CollectorRegistry``: the global one would
also collect the process's own figures, and tests building several kiosks
in one process would clash over the names."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kiosk.loop_observer import DECISIONS, WELCOME
from kiosk.status import Status

log = logging.getLogger(__name__)

# Per-stage time on a Raspberry Pi runs from well under a millisecond (match) to
# a few hundred (embedding on a busy core); the buckets cover both ends.
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Stage names come from the code (detect, quality, align, embed, match, liveness...);
# the cap keeps a mistake from growing one series per frame all the same.
MAX_STAGES = 24
OTHER = "other"
_STAGE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class KioskMetrics:
    """The kiosk's Prometheus registry and the recognition loop's observer.

    ``frame`` and ``decision`` are called on the loop's thread for every frame
    and decision: they only add to counters, and never raise (a figure lost
    must never cost a punch). ``exposition`` is what ``/metrics`` returns."""

    def __init__(
        self,
        status: Status,
        data_dir: Path | str,
        sync: Callable[[], dict] | None = None,
        *,
        usage: Callable = shutil.disk_usage,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.registry = CollectorRegistry(auto_describe=True)
        self.frames = Counter("kiosk_frames_processed", "Camera frames the recognition loop processed.", registry=self.registry)
        self.stage_seconds = Histogram(
            "kiosk_stage_seconds",
            "Time a frame spent in each stage of the face pipeline.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter("kiosk_decisions", "Decisions the loop acted on, by kind.", ["kind"], registry=self.registry)
        self.punches = Counter("kiosk_punches", "Punches recorded at this door.", registry=self.registry)
        # Every kind shows from the start at 0, so rate() works before the first of each.
        self._decision_children = {kind: self.decisions.labels(kind=kind) for kind in DECISIONS}
        self._stage_children: dict[str, object] = {}
        self._stage_lock = threading.Lock()
        self.registry.register(StateCollector(status, Path(data_dir), sync, usage=usage, monotonic=monotonic))

    # ---- the loop's observer -------------------------------------------------------------------

    def frame(self, seconds_by_stage: Mapping[str, float]) -> None:
        try:
            self.frames.inc()
            for stage, seconds in seconds_by_stage.items():
                self._stage(stage).observe(max(float(seconds), 0.0))
        except Exception:  # a metric must never stop the door
            log.debug("could not count a frame", exc_info=True)

    def decision(self, kind: str) -> None:
        try:
            child = self._decision_children.get(kind)
            if child is None:  # a kind this module does not know yet: counted, without a new series per value
                child = self.decisions.labels(kind=OTHER)
            child.inc()
            if kind == WELCOME:
                self.punches.inc()
        except Exception:
            log.debug("could not count a decision", exc_info=True)

    def _stage(self, stage: str):
        child = self._stage_children.get(stage)
        if child is not None:
            return child
        with self._stage_lock:
            if stage not in self._stage_children:
                known = len(self._stage_children) < MAX_STAGES and _STAGE_NAME.fullmatch(stage)
                self._stage_children[stage] = (
                    self.stage_seconds.labels(stage=stage) if known else self.stage_seconds.labels(stage=OTHER)
                )
            return self._stage_children[stage]

    # ---- the scrape ---------------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus's text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class StateCollector(Collector):
    """Gauges read from the kiosk's state at each scrape: the camera (from the
    pump's ``CameraState``), the gallery, whether punches are being recorded,
    the data folder's free space and, for a fleet member, the outbox."""

    def __init__(
        self,
        status: Status,
        data_dir: Path,
        sync: Callable[[], dict] | None = None,
        *,
        usage: Callable = shutil.disk_usage,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.status, self.data_dir, self.sync = status, data_dir, sync
        self.usage, self.monotonic = usage, monotonic

    def collect(self) -> Iterator[Metric]:
        status, camera = self.status, self.status.camera
        yield _gauge("kiosk_camera_fps", "Frames per second the camera delivers (as the pump measured them).", camera.fps)
        up = camera.down_since is None and camera.state.startswith("ok")
        yield _gauge("kiosk_camera_up", "1 while the camera delivers frames, 0 otherwise.", 1 if up else 0)
        down = 0.0 if camera.down_since is None else max(self.monotonic() - camera.down_since, 0.0)
        yield _gauge("kiosk_camera_down_seconds", "How long the camera has been lost (0 while it works).", down)
        yield _gauge("kiosk_gallery_people", "People the door recognises (the gallery's size).", status.gallery_size)
        yield _gauge(
            "kiosk_recording",
            "1 while punches are being recorded, 0 while they cannot be (a full disk, say).",
            1 if status.recording_problem is None else 0,
        )
        try:
            free = self.usage(self.data_dir).free
        except OSError:  # left out, rather than a made-up 0 that would look like a full disk
            log.debug("cannot read the free space of %s", self.data_dir, exc_info=True)
        else:
            yield _gauge("kiosk_data_disk_free_bytes", "Free space on the data folder's disk.", free)
        if self.sync is not None:
            yield from self._fleet()

    def _fleet(self) -> Iterator[Metric]:
        try:
            sync = self.sync()
        except Exception:  # the rest of the scrape is still worth having
            log.debug("cannot read the sync state", exc_info=True)
            return
        yield _gauge(
            "kiosk_fleet_outbox_backlog", "Entries recorded here that the fleet database does not have yet.", sync["backlog"]
        )
        yield _gauge(
            "kiosk_fleet_set_aside", "Entries the fleet database refused for their content, kept here.", sync["set_aside"]
        )
        yield _gauge(
            "kiosk_fleet_connected",
            "1 while the fleet database is reachable, 0 otherwise.",
            1 if sync["state"] == "connected" else 0,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
