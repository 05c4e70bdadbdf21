"""The composition root: the one place that creates cameras, models, the
store (a kiosk's own SQLite file or a fleet member's replica), the
application, the loop and the web server, and wires them together.
``kiosk.cli`` parses the command line and calls in here."""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import Config, ConfigError, QualitySettings, RecognitionSettings
from kiosk.visits import VisitSettings

log = logging.getLogger("kiosk")

# The loop reads frames several times a second and retries a lost camera at
# least every 10 s; silence this long means it is stuck.
STALL_SECONDS = 30.0


def db_path(config: Config) -> Path:
    return Path(config.kiosk.data_dir) / "kiosk.db"


def build_encoder(
    model_path, *, threads: int = 1, edgetpu: bool = False, quality: QualitySettings | None = None, detector: str = "full"
):
    """Detector, the aligner the model's sidecar names, and the model: the
    face pipeline of ``run``, ``enroll`` and ``identify`` (and of the tests
    and benchmarks)."""
    from kiosk import landmarks
    from kiosk.alignment import make_aligner
    from kiosk.detection import make_detector
    from kiosk.embedding import Embedder
    from kiosk.recognition import FaceEncoder

    faces = make_detector(detector, threads=threads)
    embedder = Embedder.load(model_path, num_threads=threads, edgetpu=edgetpu)
    aligner = make_aligner(
        embedder.contract.alignment,
        embedder.input_size,
        lambda: landmarks.DlibLandmarks(landmarks.ShapePredictor.load(landmarks.default_model_path())),
    )
    return FaceEncoder(faces, aligner, embedder, quality or QualitySettings())


def visit_rules(rec: RecognitionSettings) -> VisitSettings:
    """The visit rules (kiosk.visits) the [recognition] settings ask for."""
    return VisitSettings(
        mode=rec.decide_by,
        gap_seconds=rec.visit_gap_seconds,
        evidence_frames=rec.evidence_frames,
        decide_frames=rec.decide_frames,
        fair_weight=rec.fair_frame_weight,
        needed=rec.frames_needed,
        window=rec.frames_window,
    )


def recognizer(config: Config):
    """The configured face pipeline and the rules that decide on its matches."""
    from kiosk.recognition import Recognizer

    model = config.model
    encoder = build_encoder(
        model.file, threads=model.threads, edgetpu=model.edgetpu, quality=config.quality, detector=model.detector
    )
    return Recognizer(encoder, config.recognition, model.threshold)


def central(config: Config):
    from kiosk.fleet.central import Central

    return Central(config.fleet.database_url, connect_timeout=config.fleet.connect_timeout_seconds)


def fleet_reachability(central_db) -> str:
    """The fleet database's schema, when it can be reached now (a kiosk starts offline when not)."""
    from kiosk.fleet.central import Unreachable

    try:
        central_db.check_schema()
        return "reachable"
    except Unreachable as exc:
        return f"not reachable now ({exc}); the kiosk starts on its last gallery and sends punches when it is back"


def open_store(config: Config, create: bool = True, central_db=None, appended=None):
    """The kiosk's database: its own SQLite file, or a fleet member's replica of the fleet database."""
    from kiosk.store import Store

    local = Store(db_path(config), create=create)
    if not config.fleet.enabled:
        return local
    from kiosk.fleet.replica import MemberStore

    return MemberStore(local, central_db or central(config), appended)


def application(config: Config, store, rec=None, with_model: bool = True):
    """The operations, on ``store``, with the recogniser ``rec`` (built from
    the config when not given); ``with_model=False`` for commands that never see a face."""
    from kiosk.application import Application

    if rec is None and with_model:
        rec = recognizer(config)
    return Application(store, rec, config.attendance, config.kiosk.id)


def liveness_check(config: Config):
    """The door's liveness check (the face mesh and the spoof detector, loaded), or None when ``[liveness] mode = "off"``."""
    if config.liveness.mode == "off":
        return None
    from kiosk.face_mesh import FaceMesh
    from kiosk.liveness import DoorSettings
    from kiosk.liveness_check import LivenessCheck
    from kiosk.spoof_detector import SpoofDetector

    door = DoorSettings(**config.liveness.model_dump())
    return LivenessCheck(FaceMesh.load(threads=1), SpoofDetector.load(num_threads=1), door)


@dataclass
class Running:
    """What ``serve`` started, for the shutdown."""

    loop: object
    worker: threading.Thread
    web: threading.Thread
    server: object
    replicator: object = None


def build_loop(
    config: Config, app, status, open_camera, *, monotonic=time.monotonic, retry_max_seconds: float = 10.0, observer=None
):
    """The recognition loop from its pieces (also used by the tests and benchmarks)."""
    from kiosk.camera_pump import CameraPump
    from kiosk.loop import KioskLoop
    from kiosk.preview import PreviewFeed
    from kiosk.screen_state import ScreenState
    from kiosk.visit_decision import VisitDecision

    pump = CameraPump(open_camera, status, threading.Event(), monotonic=monotonic, retry_max_seconds=retry_max_seconds)
    decision = VisitDecision(app, visit_rules(config.recognition), status, liveness_check(config))
    screen = ScreenState(status, config.display, app.zone)
    preview = PreviewFeed(status.preview, config.display.preview_fps) if config.display.preview else None
    return KioskLoop(pump, decision, screen, status, preview, observer)


def serve(config: Config, admin_server: bool = False) -> int:
    """``kiosk run`` (and ``kiosk admin serve``): the loop, the web server and,
    in a fleet, the sync thread, until a signal, an unhealthy verdict or the
    end of a replay that does not loop."""
    from kiosk.cameras.factory import open_camera
    from kiosk.data_folder import lock_data_dir
    from kiosk.database_file import StoreError
    from kiosk.health import Heartbeat, judge
    from kiosk.loop_observer import Observers
    from kiosk.mqtt_bridge import start_bridge
    from kiosk.status import Screen, Status
    from kiosk.systemd import Notifier
    from kiosk.web import Services, passwords
    from kiosk.webhooks import start_webhooks

    data_dir = Path(config.kiosk.data_dir)
    lock = lock_data_dir(data_dir)  # held until the process ends
    notifier = Notifier()
    central_db = replicator = None
    if config.fleet.enabled:
        from kiosk.fleet.central import redacted

        central_db = central(config)
        log.info(
            "fleet member %s of %s: %s", config.kiosk.id, redacted(config.fleet.database_url), fleet_reachability(central_db)
        )
    store = open_store(config, central_db=central_db)
    store.quick_check()
    daily = _start_daily_backups(config)
    app = application(config, store)
    if central_db is not None:
        from kiosk.fleet.sync import Replicator

        replicator = Replicator(
            store.replica, central_db, site=config.fleet.site, model_version=app.model_version, interval=config.fleet.sync_seconds
        )
        store.appended = replicator.wake.set
    redone, need_photo = app.reembed()
    if redone:
        log.info("re-embedded %d reference faces for model %s", redone, app.model_version)
    if need_photo:
        log.warning(
            "%d people were enrolled for another model and need a new photo (see 'kiosk list' or the admin page)", len(need_photo)
        )
    status = Status(model_version=app.model_version)
    mqtt = start_bridge(config.mqtt, status, app)  # its own thread, paho's too; nothing without [mqtt] host
    camera_enabled = config.camera.source != "none"
    sync = replicator.state.snapshot if replicator else None
    metrics = None
    if config.metrics.enabled:
        from kiosk.metrics import KioskMetrics

        metrics = KioskMetrics(status, data_dir, sync)
    webhooks = start_webhooks(config, store, status)  # its own thread; does nothing without [webhooks] urls
    loop = build_loop(config, app, status, lambda: open_camera(config.camera), observer=Observers(metrics, webhooks))
    services = Services(
        status,
        app,
        capture=(lambda: loop.latest_frame) if camera_enabled else None,
        sync=sync,
        staff_managed_here=not config.fleet.enabled or admin_server,
        metrics=metrics,
    )
    running = _start(config, services, loop, replicator)
    url = f"{'https' if config.web.tls_cert else 'http'}://{config.web.host}:{config.web.port}"
    log.info(
        "kiosk page on %s/ and admin page on %s/admin/ (model %s, %d people)", url, url, app.model_version, len(loop.gallery)
    )
    if not passwords.is_set(data_dir):
        log.warning("no admin password yet: run 'kiosk admin set-password' to use the admin page")
    fatal: list[str] = []
    from kiosk.disk_space import DiskSpace

    disk = DiskSpace(data_dir, config.kiosk.min_free_mb, status)
    disk.check()

    def check():
        disk.check()  # a warning, never fatal: a full disk must not stop the door
        try:
            store.check_file()
            problem = None
        except StoreError as exc:
            problem = str(exc)
        return judge(
            web_alive=running.web.is_alive(),
            loop_expected=camera_enabled and not loop.finished,
            loop_alive=running.worker.is_alive(),
            last_progress=status.camera.last_progress,
            now=time.monotonic(),
            stall_seconds=STALL_SECONDS,
            database_problem=problem,
        )

    def on_fatal(reason: str) -> None:
        fatal.append(reason)
        loop.stop()

    heartbeat = Heartbeat(notifier, check, notifier.watchdog_interval or 5.0, on_fatal)

    def shutdown(signum, frame):
        log.info("signal %d: shutting down", signum)
        notifier.stopping()
        loop.stop()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        if camera_enabled:
            running.worker.start()
        else:
            status.camera.state = "disabled in config"
            status.show(Screen("disabled", "Camera disabled", "admin page only"))
        heartbeat.start()
        notifier.ready()
        while not loop.stop_event.wait(1.0):
            if camera_enabled and loop.finished:
                break
    finally:
        heartbeat.stop()
        mqtt.stop()  # says offline
        daily.stop()
        running.server.shutdown()
        if running.worker.ident is not None:  # never started with the camera disabled
            running.worker.join(timeout=5)
        webhooks.stop()
        if replicator:
            replicator.stop()
            central_db.close()
        store.close()
        lock.close()
    if fatal or loop.error:
        raise RuntimeError(f"stopping: {fatal[0] if fatal else loop.error}")
    return 0


def _start_daily_backups(config: Config):
    """A backup now if the newest in DATA_DIR/backups is a day old, then once a day (``[kiosk] backups``)."""
    from kiosk.backup import DailyBackups

    return DailyBackups(db_path(config), config.kiosk.backups, config.kiosk.min_free_mb).start()


def _start(config: Config, services, loop, replicator) -> Running:
    """The web server (waitress; werkzeug's, hardened, for HTTPS: see kiosk.web.serving) and the
    sync thread, started; the loop's thread, made."""
    from kiosk.web import create_app
    from kiosk.web.serving import make_web_server

    if replicator:
        threading.Thread(target=replicator.run, name="fleet-sync", daemon=True).start()
    server = make_web_server(create_app(config, services), config.web)
    web = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    web.start()
    return Running(loop, threading.Thread(target=loop.run, name="loop", daemon=True), web, server, replicator)


def exposure_warning(config: Config) -> str | None:
    """What to warn of at start when the pages are served in plain HTTP beyond this machine."""
    from kiosk.addresses import is_loopback

    if config.web.tls_cert is not None or is_loopback(config.web.host):
        return None
    return (
        f"web.host is {config.web.host!r} without TLS: the admin password, names and the camera picture cross the "
        'network in plain HTTP; set web.tls_cert and web.tls_key, or keep web.host = "127.0.0.1" behind a TLS '
        "reverse proxy (README, 'Reaching it from the office network')"
    )


def check_config(config: Config, source: str) -> str:
    """Everything ``serve`` checks before it starts: the settings (done by
    loading them), the model and landmark files as it loads them, the address
    to serve on, the TLS files, the data folder and the fleet database."""
    import socket

    rec = recognizer(config)  # loads every model file exactly as serve does
    liveness_check(config)  # and the liveness models
    contract = rec.encoder.embedder.contract
    try:
        socket.getaddrinfo(config.web.host, config.web.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"web.host: cannot resolve {config.web.host!r} ({exc.strerror})") from None
    for key in ("tls_cert", "tls_key"):
        path = getattr(config.web, key)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"web.{key}: {path} not found")
    if config.camera.source == "replay" and not Path(config.camera.replay_path).exists():
        raise ConfigError(f"camera.replay_path: {config.camera.replay_path} not found")
    from kiosk.data_folder import folder_problem
    from kiosk.database_file import missing_database
    from kiosk.mqtt_bridge import check_settings
    from kiosk.webhooks import check_secret

    if problem := folder_problem(Path(config.kiosk.data_dir)):  # as run's lock of the folder would find it
        raise ConfigError(f"kiosk.data_dir: {problem}")
    if problem := missing_database(db_path(config)):  # run would refuse to start empty
        raise ConfigError(f"kiosk.data_dir: {problem}")
    check_secret(config.webhooks)  # the signing key, as run reads it
    check_settings(config.mqtt)  # the broker's password and CA files, read as run reads them
    fleet = ""
    if config.fleet.enabled:
        from kiosk.fleet.central import CentralError, redacted

        central_db = central(config)
        try:
            reachable = fleet_reachability(central_db)
            fleet = f"; fleet database {redacted(config.fleet.database_url)}: {reachable}"
            bound = central_db.kiosk_id_bound() if reachable == "reachable" else None
        except CentralError as exc:
            raise ConfigError(f"fleet.database_url: {exc}") from None
        finally:
            central_db.close()
        if bound is not None and bound != config.kiosk.id:  # every row it sent would be refused and set aside
            raise ConfigError(
                f"kiosk.id: the fleet database records this role's rows as {bound!r}, not {config.kiosk.id!r}; "
                f"set kiosk.id = {bound!r}, or have the database owner change its row in kiosk_doors"
            )
    people, pictures = _gallery_size(config, contract.version)
    from kiosk.matching import effective_comparisons

    comparisons = effective_comparisons(people, pictures, contract.extra_picture_weight)
    door = rec.thresholds(comparisons, fused=config.recognition.decide_by == "fused")
    photo = rec.thresholds(comparisons)
    extra = f" ({pictures} pictures)" if pictures != people else ""
    return (
        f"{source}: OK (model {contract.version}, {contract.alignment}; with {people} {'person' if people == 1 else 'people'}{extra} "
        f"the door decides a visit at {door.good:.4f} for good faces and {door.fair:.4f} for fair ones, "
        f"one photo at {photo.good:.4f} and {photo.fair:.4f}){fleet}"
    )


def _gallery_size(config: Config, model_version: str) -> tuple[int, int]:
    """How many people, and pictures of them, the kiosk would match against now (0 before anyone is enrolled)."""
    from kiosk.store import Store

    if not db_path(config).is_file():
        return 0, 0
    store = Store(db_path(config), create=False)
    try:
        gallery = store.gallery(model_version)
        return len(gallery), gallery.pictures
    finally:
        store.close()
