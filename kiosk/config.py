"""The kiosk's one typed configuration object, loaded from TOML.

Every key has a default that works on a fresh machine. Each setting carries
its own rules (bounds, choices, a pattern), as Frigate's config models do
with ``Field(ge=...)``; unknown keys and bad values are errors naming the file,
the key and what is allowed. ``kiosk check-config`` runs exactly these checks
plus what ``run`` does at start-up (it loads the model, resolves the host).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MODELS_DIR = Path(__file__).parent / "models"
# The models that ship with the kiosk: dlib's ResNet (accurate; the default)
# and a small 64 px network for weak hardware.
BUNDLED_MODELS = {"default": MODELS_DIR / "face_embedding_int8.tflite", "fast": MODELS_DIR / "fast_embedding_int8.tflite"}
BUNDLED_MODEL = BUNDLED_MODELS["default"]


class ConfigError(ValueError):
    """Names the file and the key at fault."""


def setting(default=None, *, default_factory=None, ge=None, gt=None, le=None, lt=None, choices=None, pattern=None,
            non_empty=False, secret=False):
    """A dataclass field with its own validation rules (checked by :func:`config_from_dict`);
    a ``secret`` one's value never appears in an error."""
    rules = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices, pattern=pattern, non_empty=non_empty,
                                   secret=secret).items()
             if v is not None and v is not False}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=rules)
    return field(default=default, metadata=rules)


def default_data_dir() -> Path:
    return Path(os.environ.get("KIOSK_DATA_DIR", Path.home() / ".local" / "share" / "face-kiosk"))


def local_zone() -> dt.tzinfo:
    """The machine's time zone as an IANA zone (so daylight saving is known),
    from $TZ or /etc/localtime; UTC when neither names one."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        target = os.path.realpath("/etc/localtime")
        name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
    try:
        return ZoneInfo(name) if name else dt.timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


@dataclass(frozen=True)
class KioskSettings:
    id: str = setting("kiosk-1", non_empty=True, pattern=r"[A-Za-z0-9._-]{1,40}")  # recorded with every punch
    data_dir: Path = setting(default_factory=default_data_dir)


@dataclass(frozen=True)
class CameraSettings:
    source: str = setting("auto", choices=("auto", "picamera", "usb", "replay", "none"))
    device: int = setting(0, ge=0, le=63)  # V4L2 index for usb
    replay_path: str = ""  # folder of images or a video file for replay
    loop: bool = False  # replay again from the start when it ends
    width: int = setting(640, ge=160, le=4096)
    height: int = setting(480, ge=120, le=4096)
    fps: float = setting(15.0, gt=0, le=120)
    unhealthy_after_seconds: float = setting(60.0, gt=0)  # /healthz turns 503 when the camera is down this long


@dataclass(frozen=True)
class ModelSettings:
    """Which embedding model runs, and how."""

    bundled: str = setting("default", choices=tuple(BUNDLED_MODELS))  # unless path is set
    path: Path | None = None  # a model of your own (its .json sidecar beside it)
    detector: str = setting("full", choices=("full", "short"))  # BlazeFace: full range reaches about 2.5 m
    threads: int = setting(2, ge=1, le=16)
    edgetpu: bool = False
    threshold: float | None = setting(None, gt=0, lt=2)  # None: chosen for the gallery size from the sidecar

    @property
    def file(self) -> Path:
        return self.path if self.path is not None else BUNDLED_MODELS[self.bundled]


@dataclass(frozen=True)
class RecognitionSettings:
    frames_needed: int = setting(3, ge=1, le=30)  # k agreeing good frames ...
    frames_window: int = setting(5, ge=1, le=60)  # ... out of the last n
    visit_gap_seconds: float = setting(1.5, gt=0, le=60)  # no face this long ends a visit
    margin_fraction: float = setting(0.1, ge=0, lt=1)  # the runner-up must be this fraction of the threshold further away
    stranger_accept_rate: float = setting(0.01, gt=0, lt=1)  # chance a stranger's face passes as someone
    fair_rate_factor: float = setting(0.3, gt=0, le=1)  # a fair-quality face is held to this fraction of that chance


@dataclass(frozen=True)
class QualitySettings:
    """The gate's limits (see kiosk.quality). The minimum eye distance in the
    frame is ``min_face_scale`` (``fair_min_face_scale`` for a fair face)
    times the eye distance in the model's own crop; ``min_eye_distance`` fixes
    it in frame pixels instead."""

    min_eye_distance: float | None = setting(None, gt=0)
    min_face_scale: float = setting(0.5, gt=0, le=4)
    fair_min_face_scale: float = setting(0.25, gt=0, le=4)
    min_sharpness: float = setting(60.0, ge=0)  # variance of the Laplacian on the aligned crop
    fair_min_sharpness: float = setting(15.0, ge=0)
    min_brightness: float = setting(50.0, ge=0, le=255)  # mean grey level of the aligned crop
    max_brightness: float = setting(210.0, ge=0, le=255)
    max_yaw: float = setting(0.35, gt=0, le=2)  # nose offset from the eye midpoint, in eye distances
    fair_max_yaw: float = setting(0.6, gt=0, le=2)
    max_roll_degrees: float = setting(30.0, gt=0, le=90)
    min_second_face_ratio: float = setting(0.5, gt=0, le=1)  # a second face this large (relative) is someone else ...
    dominant_face_ratio: float = setting(0.8, gt=0, le=1)  # ... unless the face in the middle is at least this large ...
    central_fraction: float = setting(0.2, gt=0, le=1)  # ... and this close to the middle (fraction of the picture)


@dataclass(frozen=True)
class AttendanceSettings:
    cooldown_seconds: float = setting(60.0, ge=0)  # a second visit this soon after a punch records nothing
    day_start: str = setting("04:00", pattern=r"([01]\d|2[0-3]):[0-5]\d")  # punches before this count for the day before
    timezone: str = ""  # e.g. "Europe/Berlin"; empty: the machine's
    expected_start: str = setting("", pattern=r"(([01]\d|2[0-3]):[0-5]\d)?")  # default start time for "late" (empty: none)

    @property
    def day_start_time(self) -> dt.time:
        return dt.time.fromisoformat(self.day_start)

    @property
    def expected_start_time(self) -> dt.time | None:
        return dt.time.fromisoformat(self.expected_start) if self.expected_start else None

    def zone(self) -> dt.tzinfo:
        return ZoneInfo(self.timezone) if self.timezone else local_zone()


@dataclass(frozen=True)
class DisplaySettings:
    welcome_seconds: float = setting(5.0, gt=0, le=60)  # how long "Welcome, NAME - IN at 08:59" stays up
    time_format: str = setting("24h", choices=("24h", "12h"))
    preview: bool = True  # the live camera picture on the kiosk screen (kiosk display and admins only)
    preview_fps: float = setting(10.0, gt=0, le=30)


@dataclass(frozen=True)
class WebSettings:
    host: str = setting("127.0.0.1", non_empty=True)
    port: int = setting(8080, ge=1, le=65535)
    session_minutes: int = setting(30, ge=1, le=24 * 60)
    tls_cert: Path | None = None  # with tls_key: serve HTTPS (cookies then marked Secure)
    tls_key: Path | None = None
    max_event_streams: int = setting(16, ge=1, le=1000)  # open /events and preview connections


@dataclass(frozen=True)
class FleetSettings:
    """Membership of a fleet of kiosks that share one PostgreSQL database
    (see the README's "Several kiosks"); empty ``database_url``: standalone."""

    # postgresql://USER@HOST/DB?sslmode=verify-full; keep the password in ~/.pgpass or PGPASSWORD, not here
    database_url: str = setting("", pattern=r"(postgres(ql)?://\S+)?", secret=True)
    site: str = setting("", pattern=r"[^\x00-\x1f]{0,80}")  # recorded with every punch sent up, e.g. "Back door, Leeds"
    sync_seconds: float = setting(30.0, gt=0, le=3600)  # look for changes at least this often (notices come sooner)
    connect_timeout_seconds: float = setting(5.0, gt=0, le=120)

    @property
    def enabled(self) -> bool:
        return bool(self.database_url)


@dataclass(frozen=True)
class Config:
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    attendance: AttendanceSettings = field(default_factory=AttendanceSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    web: WebSettings = field(default_factory=WebSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)


def _coerce(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _coerce(value, options[0], where)
    if annotation is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value).expanduser()
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {annotation!r}")


def _check_rules(value, rules: dict, where: str) -> None:
    if value is None:
        return
    if rules.get("non_empty") and not str(value).strip():
        raise ConfigError(f"{where}: must not be empty")
    if "choices" in rules and value not in rules["choices"]:
        raise ConfigError(f"{where}: must be one of {', '.join(rules['choices'])}, got {value!r}")
    if "pattern" in rules and not re.fullmatch(rules["pattern"], str(value)):
        shown = "the value" if rules.get("secret") else repr(value)
        raise ConfigError(f"{where}: {shown} is not in the expected form ({_PATTERN_HELP.get(rules['pattern'], rules['pattern'])})")
    for rule, test, words in (("ge", lambda v, b: v >= b, "at least"), ("gt", lambda v, b: v > b, "greater than"),
                              ("le", lambda v, b: v <= b, "at most"), ("lt", lambda v, b: v < b, "less than")):
        if rule in rules and not test(value, rules[rule]):
            raise ConfigError(f"{where}: must be {words} {rules[rule]}, got {value!r}")


_PATTERN_HELP = {
    r"([01]\d|2[0-3]):[0-5]\d": "a time such as 04:00",
    r"(([01]\d|2[0-3]):[0-5]\d)?": "a time such as 08:30, or empty",
    r"[A-Za-z0-9._-]{1,40}": "letters, digits, '.', '_' or '-', at most 40",
    r"(postgres(ql)?://\S+)?": "a URL such as postgresql://door_a@db.example/kiosk?sslmode=verify-full, or empty",
    r"[^\x00-\x1f]{0,80}": "at most 80 characters on one line",
}


def config_from_dict(data: dict, source: str = "<config>") -> Config:
    sections = {}
    hints = typing.get_type_hints(Config)
    for section_name, section in data.items():
        if section_name not in hints:
            raise ConfigError(f"{source}: unknown section [{section_name}] (known: {', '.join(hints)})")
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: [{section_name}] must be a table")
        cls = hints[section_name]
        field_types = typing.get_type_hints(cls)
        rules = {f.name: dict(f.metadata) for f in fields(cls)}
        values = {}
        for key, value in section.items():
            where = f"{source}: {section_name}.{key}"
            if key not in field_types:
                raise ConfigError(f"{where}: unknown key (known: {', '.join(field_types)})")
            value = _coerce(value, field_types[key], where)
            _check_rules(value, rules[key], where)
            values[key] = value
        sections[section_name] = cls(**values)
    config = Config(**sections)
    _check_together(config, source)
    return config


def _check_together(config: Config, source: str) -> None:
    """Rules that tie settings to each other."""
    rec, quality, camera, web = config.recognition, config.quality, config.camera, config.web
    if rec.frames_needed > rec.frames_window:
        raise ConfigError(f"{source}: recognition.frames_needed ({rec.frames_needed}) exceeds frames_window ({rec.frames_window})")
    if quality.min_brightness >= quality.max_brightness:
        raise ConfigError(f"{source}: quality.min_brightness ({quality.min_brightness}) must be below max_brightness ({quality.max_brightness})")
    for strict, fair in (("max_yaw", "fair_max_yaw"), ("min_sharpness", "fair_min_sharpness"), ("min_face_scale", "fair_min_face_scale")):
        a, b = getattr(quality, strict), getattr(quality, fair)
        if (b < a) if strict.startswith("max") else (b > a):
            raise ConfigError(f"{source}: quality.{fair} ({b}) must be more lenient than quality.{strict} ({a})")
    if camera.source == "replay" and not camera.replay_path:
        raise ConfigError(f"{source}: camera.source is \"replay\" but camera.replay_path is empty; give a folder of images or a video file")
    if (web.tls_cert is None) != (web.tls_key is None):
        raise ConfigError(f"{source}: web.tls_cert and web.tls_key go together; set both or neither")
    if config.attendance.timezone:
        try:
            ZoneInfo(config.attendance.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{source}: attendance.timezone: unknown time zone {config.attendance.timezone!r} "
                              "(use a name such as \"Europe/Berlin\")") from None


def load_config(path: str | Path | None) -> Config:
    """Defaults when ``path`` is None; otherwise the TOML file, validated."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return config_from_dict(data, str(path))
