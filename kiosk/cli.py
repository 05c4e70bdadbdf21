"""The ``kiosk`` command: parses the command line and calls the composition
root (:mod:`kiosk.composition`) and the application's operations."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from kiosk import composition
from kiosk.config import Config, ConfigError, load_config
from kiosk.logs import start_logging

log = logging.getLogger("kiosk")


def cmd_check_config(args, config: Config) -> int:
    print(composition.check_config(config, args.config or "built-in defaults"))
    return 0


def cmd_enroll(args, config: Config) -> int:
    from kiosk.application import LooksLikeSomeone
    from kiosk.enrollment import EnrollmentError, make_reference, read_photo
    from kiosk.names import InvalidName, clean_name

    try:  # the name before anything is loaded: a bad one needs no model
        clean_name(args.name)
    except InvalidName as exc:
        raise ValueError(f"--name: {exc}") from None
    rec = composition.recognizer(config)
    try:  # the photo first: a bad one creates no database
        ref = make_reference(rec.encoder, read_photo(args.photo))
    except EnrollmentError as exc:
        raise ValueError(str(exc) if str(exc).startswith(args.photo) else f"{args.photo}: {exc}") from None
    app = composition.application(config, composition.open_store(config), rec)
    try:
        enrolled = app.enrol(args.name, ref, force=args.force)
    except LooksLikeSomeone as exc:
        raise ValueError(f"{args.photo}: {exc}; use --force to enroll anyway") from None
    print(json.dumps({"id": enrolled.employee_id, "name": enrolled.name, **({"note": enrolled.note} if enrolled.note else {})}))
    return 0


def cmd_set_password(args, config: Config) -> int:
    import getpass

    from kiosk.data_folder import refuse_another_users_folder
    from kiosk.web import passwords

    refuse_another_users_folder(Path(config.kiosk.data_dir), "admin set-password")
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

    app = composition.application(config, composition.open_store(config, create=False), with_model=False)
    try:
        app.remove(args.id, purge=args.purge)
    except UnknownEmployee:
        raise ValueError(f"no employee with id {args.id}") from None
    print(f"removed employee {args.id}")
    return 0


def cmd_list(args, config: Config) -> int:
    from kiosk.contract import load_contract
    from kiosk.store import Store

    store = Store(composition.db_path(config), create=False)
    stale = set(store.stale_references(load_contract(config.model.file).version))
    for e in store.employees():
        print(f"{e.id}\t{e.name}\t{e.created}" + ("\tNEEDS A NEW PHOTO (enrolled for another model)" if e.id in stale else ""))
    return 0


def identify_photo(path: str, app, gallery) -> dict:
    """What the kiosk would decide for one photo, as a JSON-ready dict."""
    from kiosk.enrollment import EnrollmentError, read_photo

    try:
        image = read_photo(path)
    except EnrollmentError as exc:
        return {"photo": path, "error": str(exc)}
    result = app.identify(image, gallery)
    out = {"photo": path, "quality": result.quality.tier or "refused"}
    if result.quality.reason:
        out["quality_reason"] = result.quality.reason
    if result.match is None:
        out.update(decision="unknown", reason="no usable face" if not result.quality.ok else "empty gallery")
        return out
    out.update(
        employee_id=result.employee_id,
        name=result.name,
        distance=round(result.match.distance, 4),
        margin=round(min(result.match.margin, 2.0), 4),
        threshold=round(result.threshold, 4),
        decision="accepted" if result.accepted else "unknown",
    )
    return out


def cmd_identify(args, config: Config) -> int:
    """One JSON object per photo and line, like face_recognition's CLI on a folder."""
    from kiosk.store import Store

    app = composition.application(config, Store(composition.db_path(config), create=False))
    gallery = app.gallery()
    failed = 0
    for path in _photo_paths(args.photos):
        result = identify_photo(str(path), app, gallery)
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
    if args.replay:  # --replay PATH means the replay source
        config = config.model_copy(
            update={"camera": config.camera.model_copy(update={"source": "replay", "replay_path": args.replay})}
        )
    elif args.source:
        config = config.model_copy(update={"camera": config.camera.model_copy(update={"source": args.source})})
    if config.camera.source == "replay" and not config.camera.replay_path:
        raise ConfigError('camera.source is "replay" but no replay path was given (--replay PATH or camera.replay_path)')
    _warn_of_exposure(config)
    return composition.serve(config)


def _warn_of_exposure(config: Config) -> None:
    if warning := composition.exposure_warning(config):
        log.warning("%s", warning)


def cmd_admin_serve(args, config: Config) -> int:
    """The fleet's admin page on a server or a manager's PC: no camera, the
    same pages, against the fleet database."""
    if not config.fleet.enabled:
        raise ConfigError(
            "'kiosk admin serve' is the admin page of a fleet: set [fleet] database_url in the config "
            "(a standalone kiosk serves its admin page itself, at /admin/)"
        )
    config = config.model_copy(update={"camera": config.camera.model_copy(update={"source": "none"})})
    _warn_of_exposure(config)
    return composition.serve(config, admin_server=True)


def cmd_fleet_migrate(args, config: Config) -> int:
    from kiosk.fleet.central import SCHEMA_VERSION, Central, redacted

    url = args.database_url or config.fleet.database_url
    if not url:
        raise ConfigError("fleet migrate needs the fleet database: --database-url URL or [fleet] database_url")
    central = Central(url, connect_timeout=config.fleet.connect_timeout_seconds)
    try:
        applied = central.migrate()
    finally:
        central.close()
    print(
        f"{redacted(url)}: schema {SCHEMA_VERSION}" + (f" (applied {', '.join(map(str, applied))})" if applied else " (already)")
    )
    return 0


def cmd_backup(args, config: Config) -> int:
    from kiosk.backup import backup

    path = backup(composition.db_path(config), Path(args.dest or Path(config.kiosk.data_dir) / "backups"))
    print(path)
    return 0


def cmd_restore(args, config: Config) -> int:
    from kiosk.backup import restore
    from kiosk.data_folder import lock_data_dir

    lock = lock_data_dir(Path(config.kiosk.data_dir))  # refuses while a kiosk runs on this folder
    try:
        summary = restore(Path(args.backup), composition.db_path(config), force=args.force)
    finally:
        lock.close()
    print(f"restored {args.backup}: {summary['employees']} employees, {summary['attendance_rows']} attendance rows")
    if summary["kept"]:
        lost = f", with the {summary['missing']} entries the backup lacks" if summary["missing"] else ""
        print(f"the database it replaced is kept as {summary['kept']} (and its WAL, if it had one){lost}")
    return 0


def cmd_export(args, config: Config) -> int:
    from kiosk import office_commands

    app = composition.application(config, composition.open_store(config, create=False), with_model=False)
    return office_commands.export(app, args, config.payroll.overtime_after_hours)


def cmd_staff(args, config: Config) -> int:
    from kiosk import office_commands

    store = composition.open_store(config, create=args.staff_command == "import")
    return office_commands.staff(composition.application(config, store, with_model=False), args)


def employee_number(text: str) -> int:
    """An employee's id as the database can hold it (a larger one would raise, not find nobody)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an employee's number (see 'kiosk list')")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    from kiosk import office_commands

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
    fleet = sub.add_parser("fleet", help="the fleet database (several kiosks)").add_subparsers(
        dest="fleet_command", required=True
    )
    p = fleet.add_parser("migrate", parents=[common], help="create or upgrade the fleet database's tables and roles")
    p.add_argument("--database-url", help="the database owner's URL (default: [fleet] database_url)")
    p.set_defaults(func=cmd_fleet_migrate)
    p = sub.add_parser("remove", help="remove an employee (photo and embedding deleted)")
    p.add_argument("id", type=employee_number)
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
    p.add_argument("--force", action="store_true", help="restore even when the database holds entries the backup lacks")
    p.set_defaults(func=cmd_restore)
    office_commands.add_parsers(sub, common, cmd_export, cmd_staff)
    sub.add_parser("check-config", help="validate the config file and the model it names").set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config, args.verbose = getattr(args, "config", None), getattr(args, "verbose", False)
    os.umask(0o077)  # the data folder holds faces: nothing we create is readable by others
    # The service logs its progress; one-off commands print results, and only warnings unless -v.
    serving = args.command == "run" or getattr(args, "admin_command", None) == "serve"
    level = logging.DEBUG if args.verbose else logging.INFO if serving else logging.WARNING
    logs = start_logging(level)
    try:
        config = load_config(args.config)
        return args.func(args, config)
    except ConfigError as exc:
        log.error("config error: %s", exc)
        return 2
    except (ValueError, RuntimeError, OSError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        logs.stop()


if __name__ == "__main__":
    sys.exit(main())
