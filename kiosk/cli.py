"""The ``kiosk`` command and the composition root: the one place that creates
cameras, models, the store and the web server and wires them together."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path


from kiosk.config import Config, ConfigError, load_config

log = logging.getLogger("kiosk")


def _db_path(config: Config) -> Path:
    return Path(config.kiosk.data_dir) / "kiosk.db"


def _central(config: Config):
    from kiosk.central import Central

    return Central(config.fleet.database_url, connect_timeout=config.fleet.connect_timeout_seconds)


def _open_store(config: Config, central=None, create: bool = True, appended=None):
    """The kiosk's database: its own SQLite file, or a fleet member's replica of the fleet database."""
    from kiosk.store import Store

    if not config.fleet.enabled:
        return Store(_db_path(config), create=create)
    from kiosk.replica import ReplicaStore

    return ReplicaStore(_db_path(config), central or _central(config), create=create, appended=appended)


def _check_fleet(central) -> str:
    """The fleet database's schema, when it can be reached now (a kiosk starts offline when not)."""
    from kiosk.central import Unreachable

    try:
        central.check_schema()
        return "reachable"
    except Unreachable as exc:
        return f"not reachable now ({exc}); the kiosk starts on its last gallery and sends punches when it is back"


def build_encoder(model_path, *, threads: int = 1, edgetpu: bool = False, quality=None, detector: str = "full"):
    """Detector, the aligner the model's sidecar names, and the model: the
    face pipeline of ``run``, ``enroll`` and ``identify`` (and of the tests
    and benchmarks)."""
    from kiosk import landmarks
    from kiosk.alignment import make_aligner
    from kiosk.detection import make_detector
    from kiosk.embedding import Embedder
    from kiosk.config import QualitySettings
    from kiosk.recognition import FaceEncoder

    faces = make_detector(detector, threads=threads)
    embedder = Embedder.load(model_path, num_threads=threads, edgetpu=edgetpu)
    aligner = make_aligner(embedder.contract.alignment, embedder.input_size,
                           lambda: landmarks.DlibLandmarks(landmarks.ShapePredictor.load(landmarks.default_model_path())))
    return FaceEncoder(faces, aligner, embedder, quality or QualitySettings())


def _encoder(config: Config):
    return build_encoder(config.model.file, threads=config.model.threads, edgetpu=config.model.edgetpu, quality=config.quality,
                         detector=config.model.detector)


def _recognizer(config: Config, encoder):
    from kiosk.recognition import Recognizer

    return Recognizer(encoder, config.recognition, config.model.threshold)


def cmd_check_config(args, config: Config) -> int:
    """Everything ``run`` checks before it starts: the settings (done by
    loading them), the model and landmark files as run loads them, the
    address to serve on, the TLS files and the data folder."""
    import socket

    encoder = _encoder(config)  # loads every model file exactly as run does
    contract = encoder.embedder.contract
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
    data_dir = Path(config.kiosk.data_dir)
    if data_dir.exists() and not os.access(data_dir, os.W_OK):
        raise ConfigError(f"kiosk.data_dir: {data_dir} is not writable by this user")
    fleet = ""
    if config.fleet.enabled:
        from kiosk.central import CentralError, redacted

        central = _central(config)
        try:
            fleet = f"; fleet database {redacted(config.fleet.database_url)}: {_check_fleet(central)}"
        except CentralError as exc:
            raise ConfigError(f"fleet.database_url: {exc}") from None
        finally:
            central.close()
    print(f"{args.config or 'built-in defaults'}: OK (model {contract.version}, {contract.alignment}, "
          f"threshold {contract.threshold:.4f} at a pair false-accept rate of {contract.metrics.get('far_target', '?')}){fleet}")
    return 0


def cmd_enroll(args, config: Config) -> int:
    from kiosk.enrollment import EnrollmentError, lookalikes, make_reference, read_photo

    encoder = _encoder(config)
    try:
        ref = make_reference(encoder, read_photo(args.photo))
    except EnrollmentError as exc:
        raise ValueError(str(exc) if str(exc).startswith(args.photo) else f"{args.photo}: {exc}") from None
    store = _open_store(config)
    version = encoder.embedder.contract.version
    if config.fleet.enabled:
        store.pull_gallery(version)  # look-alikes among the whole fleet's staff
    gallery = store.gallery(version)
    # The threshold the gallery will use once this person is in it.
    threshold = _recognizer(config, encoder).thresholds(len(gallery) + 1).good
    similar = lookalikes(gallery, ref.embedding, threshold)
    if similar and not args.force:
        names = ", ".join(f"{s.name} (#{s.employee_id}, distance {s.distance:.3f})" for s in similar)
        raise ValueError(f"{args.photo}: this face would be recognised as {names}; use --force to enroll anyway")
    employee_id = store.add_employee(args.name, image=ref.image, face=ref.face, crop=ref.crop, embedding=ref.embedding,
                                     model_version=version)
    print(json.dumps({"id": employee_id, "name": args.name.strip(), **({"note": ref.note} if ref.note else {})}))
    return 0


def cmd_set_password(args, config: Config) -> int:
    import getpass

    from kiosk.web import passwords

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise ValueError("the two passwords differ; nothing changed")
    passwords.set_password(Path(config.kiosk.data_dir), password)
    print("admin password set")
    return 0


def cmd_remove(args, config: Config) -> int:
    from kiosk.store import UnknownEmployee

    try:
        _open_store(config, create=False).remove_employee(args.id, purge_attendance=args.purge)
    except UnknownEmployee:
        raise ValueError(f"no employee with id {args.id}") from None
    print(f"removed employee {args.id}")
    return 0


def cmd_list(args, config: Config) -> int:
    from kiosk.contract import load_contract
    from kiosk.store import Store

    store = Store(_db_path(config), create=False)
    stale = set(store.stale_references(load_contract(config.model.file).version))
    for e in store.employees():
        print(f"{e.id}\t{e.name}\t{e.created}" + ("\tNEEDS A NEW PHOTO (enrolled for another model)" if e.id in stale else ""))
    return 0


def identify_photo(path: str, recognizer, gallery) -> dict:
    """What the kiosk would decide for one photo, as a JSON-ready dict."""
    from kiosk.enrollment import EnrollmentError, read_photo

    try:
        image = read_photo(path)
    except EnrollmentError as exc:
        return {"photo": path, "error": str(exc)}
    result = recognizer.recognize(image, gallery)
    out = {"photo": path, "quality": result.quality.tier or "refused"}
    if result.quality.reason:
        out["quality_reason"] = result.quality.reason
    if result.match is None:
        out.update(decision="unknown", reason="no usable face" if not result.quality.ok else "empty gallery")
        return out
    out.update(
        employee_id=result.employee_id, name=result.name, distance=round(result.match.distance, 4),
        margin=round(min(result.match.margin, 2.0), 4), threshold=round(result.threshold, 4),
        decision="accepted" if result.accepted else "unknown",
    )
    return out


def cmd_identify(args, config: Config) -> int:
    """One JSON object per photo and line, like face_recognition's CLI on a folder."""
    from kiosk.store import Store

    encoder = _encoder(config)
    recognizer = _recognizer(config, encoder)
    gallery = Store(_db_path(config), create=False).gallery(encoder.embedder.contract.version)
    failed = 0
    for path in _photo_paths(args.photos):
        result = identify_photo(str(path), recognizer, gallery)
        failed += "error" in result
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


def _photo_paths(items: list[str]):
    """Files as given; folders expand to the images in them (sorted)."""
    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".heic"}
    for item in items:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes)
        else:
            yield path


def cmd_run(args, config: Config) -> int:
    from werkzeug.serving import make_server

    from kiosk.cameras.factory import open_camera
    from kiosk.enrollment import reembed
    from kiosk.health import Heartbeat, judge
    from kiosk.loop import KioskLoop, Screen, Status
    from kiosk.store import StoreError, lock_data_dir
    from kiosk.systemd import Notifier
    from kiosk.web import Services, create_app, passwords

    if args.replay:  # --replay PATH means the replay source
        config = replace(config, camera=replace(config.camera, source="replay", replay_path=args.replay))
    elif args.source:
        config = replace(config, camera=replace(config.camera, source=args.source))
    if config.camera.source == "replay" and not config.camera.replay_path:
        raise ConfigError("camera.source is \"replay\" but no replay path was given (--replay PATH or camera.replay_path)")
    data_dir = Path(config.kiosk.data_dir)
    lock = lock_data_dir(data_dir)  # held until the process ends
    notifier = Notifier()
    encoder = _encoder(config)
    contract = encoder.embedder.contract
    central = replicator = None
    if config.fleet.enabled:
        from kiosk.central import redacted
        from kiosk.replica import Replicator

        central = _central(config)
        log.info("fleet member %s of %s: %s", config.kiosk.id, redacted(config.fleet.database_url), _check_fleet(central))
        replicator = Replicator(lambda: _open_store(config, central), central, site=config.fleet.site,
                                model_version=contract.version, interval=config.fleet.sync_seconds)
    store = _open_store(config, central, appended=replicator.wake.set if replicator else None)
    store.quick_check()
    redone, need_photo = reembed(store, encoder)
    if redone:
        log.info("re-embedded %d reference faces for model %s", redone, contract.version)
    if need_photo:
        log.warning("%d people were enrolled for another model and need a new photo (see 'kiosk list' or the admin page)", len(need_photo))
    recognizer = _recognizer(config, encoder)
    status = Status(model_version=contract.version)
    loop = KioskLoop(
        open_camera=lambda: open_camera(config.camera), recognizer=recognizer, store=store,
        recognition=config.recognition, rules=config.attendance, display=config.display,
        kiosk_id=config.kiosk.id, model_version=contract.version, status=status,
    )
    services = Services(status, str(_db_path(config)), encoder, recognizer,
                        capture=(lambda: loop.latest_frame) if config.camera.source != "none" else None,
                        open_store=(lambda: _open_store(config, central)) if central else None,
                        sync=replicator.state.snapshot if replicator else None,
                        staff_managed_here=not config.fleet.enabled or args.command == "admin")
    if replicator:
        threading.Thread(target=replicator.run, name="fleet-sync", daemon=True).start()
    tls = (str(config.web.tls_cert), str(config.web.tls_key)) if config.web.tls_cert else None
    server = make_server(config.web.host, config.web.port, create_app(config, services), threaded=True, ssl_context=tls)
    web = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    web.start()
    scheme = "https" if tls else "http"
    log.info("kiosk page on %s://%s:%d/ and admin page on %s://%s:%d/admin/ (model %s, %d people)", scheme,
             config.web.host, config.web.port, scheme, config.web.host, config.web.port, contract.version, len(loop.gallery))
    if not passwords.is_set(data_dir):
        log.warning("no admin password yet: run 'kiosk admin set-password' to use the admin page")

    camera_enabled = config.camera.source != "none"
    worker = threading.Thread(target=loop.run, name="loop", daemon=True)
    fatal: list[str] = []

    def check():
        try:
            store.check_file()
            problem = None
        except StoreError as exc:
            problem = str(exc)
        return judge(web_alive=web.is_alive(), loop_expected=camera_enabled and not loop.finished, loop_alive=worker.is_alive(),
                     last_progress=status.last_progress, now=time.monotonic(), stall_seconds=STALL_SECONDS, database_problem=problem)

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
            worker.start()
        else:
            status.camera = "disabled in config"
            status.show(Screen("disabled", "Camera disabled", "admin page only"))
        heartbeat.start()
        notifier.ready()
        # Wait for a signal, an unhealthy verdict, or the end of a replay that does not loop.
        while not loop.stop_event.wait(1.0):
            if camera_enabled and loop.finished:
                break
    finally:
        heartbeat.stop()
        server.shutdown()
        worker.join(timeout=5)
        if replicator:
            replicator.stop()
            central.close()
        store.close()
        lock.close()
    if fatal or loop.error:
        raise RuntimeError(f"stopping: {fatal[0] if fatal else loop.error}")
    return 0


# The loop reads frames several times a second and retries a lost camera at
# least every 10 s; silence this long means it is stuck.
STALL_SECONDS = 30.0


def cmd_admin_serve(args, config: Config) -> int:
    """The fleet's admin page on a server or a manager's PC: no camera, the
    same pages, against the fleet database."""
    if not config.fleet.enabled:
        raise ConfigError("'kiosk admin serve' is the admin page of a fleet: set [fleet] database_url in the config "
                          "(a standalone kiosk serves its admin page itself, at /admin/)")
    args.replay, args.source = None, "none"
    return cmd_run(args, config)


def cmd_fleet_migrate(args, config: Config) -> int:
    from kiosk.central import SCHEMA_VERSION, Central, redacted

    url = args.database_url or config.fleet.database_url
    if not url:
        raise ConfigError("fleet migrate needs the fleet database: --database-url URL or [fleet] database_url")
    central = Central(url, connect_timeout=config.fleet.connect_timeout_seconds)
    try:
        applied = central.migrate()
    finally:
        central.close()
    print(f"{redacted(url)}: schema {SCHEMA_VERSION}" + (f" (applied {', '.join(map(str, applied))})" if applied else " (already)"))
    return 0


def cmd_backup(args, config: Config) -> int:
    from kiosk.backup import backup

    path = backup(_db_path(config), Path(args.dest or Path(config.kiosk.data_dir) / "backups"))
    print(path)
    return 0


def cmd_restore(args, config: Config) -> int:
    from kiosk.backup import restore
    from kiosk.store import lock_data_dir

    lock = lock_data_dir(Path(config.kiosk.data_dir))  # refuses while a kiosk runs on this folder
    try:
        summary = restore(Path(args.backup), _db_path(config))
    finally:
        lock.close()
    print(f"restored {args.backup}: {summary['employees']} employees, {summary['attendance_rows']} attendance rows")
    return 0


def build_parser() -> argparse.ArgumentParser:
    # -c and -v work before or after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help="TOML config file (default: built-in defaults)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="more logging")
    parser = argparse.ArgumentParser(prog="kiosk", description="Face-recognition attendance kiosk.", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    sub_parser = sub.add_parser

    def add(name, **kw):
        return sub_parser(name, parents=[common], **kw)

    sub.add_parser = add
    p = sub.add_parser("run", help="run the camera loop and serve the kiosk page")
    p.add_argument("--source", choices=["auto", "picamera", "usb", "replay", "none"], help="override camera.source")
    p.add_argument("--replay", metavar="PATH", help="replay a folder of images or a video file (implies --source replay)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("enroll", help="add an employee from one photo")
    p.add_argument("--name", required=True)
    p.add_argument("--force", action="store_true", help="enroll even if the face looks like someone enrolled")
    p.add_argument("photo")
    p.set_defaults(func=cmd_enroll)
    admin = sub.add_parser("admin", help="admin page settings").add_subparsers(dest="admin_command", required=True)
    p = admin.add_parser("set-password", parents=[common], help="set the admin page password (stored hashed)")
    p.add_argument("--password-stdin", action="store_true", help="read it from standard input (for scripts)")
    p.set_defaults(func=cmd_set_password)
    p = admin.add_parser("serve", parents=[common], help="serve the admin page of a fleet (no camera)")
    p.set_defaults(func=cmd_admin_serve)
    fleet = sub.add_parser("fleet", help="the fleet database (several kiosks)").add_subparsers(dest="fleet_command", required=True)
    p = fleet.add_parser("migrate", parents=[common], help="create or upgrade the fleet database's tables and roles")
    p.add_argument("--database-url", help="the database owner's URL (default: [fleet] database_url)")
    p.set_defaults(func=cmd_fleet_migrate)
    p = sub.add_parser("remove", help="remove an employee (photo and embedding deleted)")
    p.add_argument("id", type=int)
    p.add_argument("--purge", action="store_true", help="also delete their attendance history")
    p.set_defaults(func=cmd_remove)
    sub.add_parser("list", help="list enrolled employees").set_defaults(func=cmd_list)
    p = sub.add_parser("identify", help="the kiosk's decision for photos, one JSON object per line")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files or folders of photos")
    p.set_defaults(func=cmd_identify)
    p = sub.add_parser("backup", help="consistent copy of the database (safe while the kiosk runs)")
    p.add_argument("dest", nargs="?", help="folder for the backup (default: DATA_DIR/backups)")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="verify a backup and make it the database (stop the kiosk first)")
    p.add_argument("backup")
    p.set_defaults(func=cmd_restore)
    sub.add_parser("check-config", help="validate the config file and the model it names").set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config, args.verbose = getattr(args, "config", None), getattr(args, "verbose", False)
    os.umask(0o077)  # the data folder holds faces: nothing we create is readable by others
    # The service logs its progress; one-off commands print results, and only warnings unless -v.
    serving = args.command == "run" or getattr(args, "admin_command", None) == "serve"
    level = logging.DEBUG if args.verbose else logging.INFO if serving else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        return args.func(args, config)
    except ConfigError as exc:
        log.error("config error: %s", exc)
        return 2
    except (ValueError, RuntimeError, OSError) as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
