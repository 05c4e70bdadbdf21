"""The kiosk's one typed configuration object, loaded from TOML.

Every key has a default that works on a fresh machine. Each setting carries
its own rules on its pydantic field (``Field(ge=...)``, ``Literal`` choices, a
pattern), as Frigate's config models do; rules that tie settings together are
validators on their section. Unknown keys and bad values are errors naming the
file, the key and what is allowed; :func:`config_from_dict` is the one place
that words them. ``kiosk check-config`` runs exactly these checks plus what
``run`` does at start-up (it loads the model, resolves the host).
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from kiosk.addresses import Network, networks
from kiosk.config_errors import describe
from kiosk.integration_settings import ApiSettings, MqttSettings, WebhookSettings
from kiosk.setting_types import (
    AddressList,
    DatabaseUrl,
    KioskId,
    NonBlank,
    OneLine,
    PathSetting,
    Settings,
    Time,
    TimeOrEmpty,
)
from kiosk.setting_types import rule as _rule

MODELS_DIR = Path(__file__).parent / "models"
# The models that ship with the kiosk: dlib's ResNet (accurate; the default)
# and a small 64 px network for weak hardware.
BUNDLED_MODELS = {"default": MODELS_DIR / "face_embedding_int8.tflite", "fast": MODELS_DIR / "fast_embedding_int8.tflite"}
BUNDLED_MODEL = BUNDLED_MODELS["default"]


class ConfigError(ValueError):
    """Names the file and the key at fault."""


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
        return ZoneInfo(name) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


class KioskSettings(Settings):
    """Which kiosk this is and where it keeps its data."""

    id: KioskId = "kiosk-1"  # recorded with every punch
    data_dir: PathSetting = Field(default_factory=default_data_dir)
    backups: int = Field(7, ge=0, le=366)  # daily backups kept in DATA_DIR/backups (0: the kiosk makes none)
    min_free_mb: int = Field(200, ge=0, le=10**6)  # warn (log, /healthz, status page) when the data folder has less free


class CameraSettings(Settings):
    """Where the pictures come from."""

    source: Literal["auto", "picamera", "usb", "replay", "none"] = "auto"
    device: int = Field(0, ge=0, le=63)  # V4L2 index for usb
    replay_path: str = ""  # folder of images or a video file for replay
    loop: bool = False  # replay again from the start when it ends
    width: int = Field(640, ge=160, le=4096)
    height: int = Field(480, ge=120, le=4096)
    fps: float = Field(15.0, gt=0, le=120)
    unhealthy_after_seconds: float = Field(60.0, gt=0)  # /healthz turns 503 when the camera is down this long

    @model_validator(mode="after")
    def _replay_has_a_path(self) -> CameraSettings:
        if self.source == "replay" and not self.replay_path:
            raise _rule('camera.source is "replay" but camera.replay_path is empty; give a folder of images or a video file')
        return self


class ModelSettings(Settings):
    """Which embedding model runs, and how."""

    bundled: Literal["default", "fast"] = "default"  # the keys of BUNDLED_MODELS; used unless path is set
    path: PathSetting | None = None  # a model of your own (its .json sidecar beside it)
    detector: Literal["full", "short"] = "full"  # BlazeFace: full range reaches about 2.5 m
    threads: int = Field(2, ge=1, le=16)
    edgetpu: bool = False
    threshold: float | None = Field(None, gt=0, lt=2)  # None: chosen for the gallery size from the sidecar

    @property
    def file(self) -> Path:
        return self.path if self.path is not None else BUNDLED_MODELS[self.bundled]


class RecognitionSettings(Settings):
    """When a run of frames names a person, or nobody."""

    # "fused": the visit's usable faces are averaged and judged as one; "votes": release 2026.11's k-of-n vote.
    decide_by: Literal["fused", "votes"] = "fused"
    evidence_frames: float = Field(2.0, ge=1, le=30)  # fused: good frames' worth of evidence before a name ...
    decide_frames: float = Field(5.0, ge=1, le=60)  # ... and before "not recognised"
    fair_frame_weight: float = Field(0.5, gt=0, le=1)  # fused: a fair face counts this much of a good one
    frames_needed: int = Field(3, ge=1, le=30)  # votes: k agreeing good frames ...
    frames_window: int = Field(5, ge=1, le=60)  # ... out of the last n
    visit_gap_seconds: float = Field(1.5, gt=0, le=60)  # no face this long ends a visit
    margin_fraction: float = Field(0.1, ge=0, lt=1)  # the runner-up must be this fraction of the threshold further away
    stranger_accept_rate: float = Field(0.01, gt=0, lt=1)  # chance a stranger's face passes as someone
    fair_rate_factor: float = Field(0.3, gt=0, le=1)  # a fair-quality face is held to this fraction of that chance
    # Templates: more pictures of a person than the enrolment photo (learnt at the door, or added on the admin page).
    learn_from_visits: bool = True  # a confident welcome's face becomes a template of that person
    max_templates: int = Field(5, ge=0, le=20)  # per person, besides the enrolment photo; the most varied are kept
    learn_within: float = Field(1.0, gt=0, le=1)  # ... when the visit was this fraction of the threshold away or nearer
    learn_margin: float = Field(0.1, ge=0, le=2)  # ... the runner-up this fraction of the threshold further away, and beyond it
    match_templates: Literal["nearest", "mean"] = "nearest"  # a person's distance: to their nearest picture, or their mean

    @model_validator(mode="after")
    def _window_holds_the_votes(self) -> RecognitionSettings:
        if self.frames_needed > self.frames_window:
            raise _rule(f"recognition.frames_needed ({self.frames_needed}) exceeds frames_window ({self.frames_window})")
        if self.evidence_frames > self.decide_frames:
            raise _rule(f"recognition.evidence_frames ({self.evidence_frames:g}) exceeds decide_frames ({self.decide_frames:g})")
        return self


class QualitySettings(Settings):
    """The gate's limits (see kiosk.quality). The minimum eye distance in the
    frame is ``min_face_scale`` (``fair_min_face_scale`` for a fair face)
    times the eye distance in the model's own crop; ``min_eye_distance`` fixes
    it in frame pixels instead."""

    min_eye_distance: float | None = Field(None, gt=0)
    min_face_scale: float = Field(0.5, gt=0, le=4)
    fair_min_face_scale: float = Field(0.25, gt=0, le=4)
    min_sharpness: float = Field(60.0, ge=0)  # variance of the Laplacian on the aligned crop
    fair_min_sharpness: float = Field(15.0, ge=0)
    min_brightness: float = Field(50.0, ge=0, le=255)  # mean grey level of the aligned crop
    max_brightness: float = Field(210.0, ge=0, le=255)
    max_yaw: float = Field(0.35, gt=0, le=2)  # nose offset from the eye midpoint, in eye distances
    fair_max_yaw: float = Field(0.6, gt=0, le=2)
    max_roll_degrees: float = Field(30.0, gt=0, le=90)
    min_second_face_ratio: float = Field(0.5, gt=0, le=1)  # a second face this large (relative) is someone else ...
    dominant_face_ratio: float = Field(0.8, gt=0, le=1)  # ... unless the face in the middle is at least this large ...
    central_fraction: float = Field(0.2, gt=0, le=1)  # ... and this close to the middle (fraction of the picture)

    @model_validator(mode="after")
    def _fair_is_more_lenient(self) -> QualitySettings:
        if self.min_brightness >= self.max_brightness:
            raise _rule(f"quality.min_brightness ({self.min_brightness}) must be below max_brightness ({self.max_brightness})")
        for strict, fair in (
            ("max_yaw", "fair_max_yaw"),
            ("min_sharpness", "fair_min_sharpness"),
            ("min_face_scale", "fair_min_face_scale"),
        ):
            a, b = getattr(self, strict), getattr(self, fair)
            if (b < a) if strict.startswith("max") else (b > a):
                raise _rule(f"quality.{fair} ({b}) must be more lenient than quality.{strict} ({a})")
        return self


class AttendanceSettings(Settings):
    """How punches become work days."""

    cooldown_seconds: float = Field(60.0, ge=0)  # a second visit this soon after a punch records nothing
    day_start: Time = "04:00"  # punches before this count for the day before
    timezone: str = ""  # e.g. "Europe/Berlin"; empty: the machine's
    expected_start: TimeOrEmpty = ""  # default start time for "late" (empty: none)
    punch_photo_days: int = Field(30, ge=0, le=3650)  # a photo of each punch is kept this long (0: none is taken)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            if name:
                ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise _rule(f'attendance.timezone: unknown time zone {name!r} (use a name such as "Europe/Berlin")') from None
        return name

    @property
    def day_start_time(self) -> dt.time:
        return dt.time.fromisoformat(self.day_start)

    @property
    def expected_start_time(self) -> dt.time | None:
        return dt.time.fromisoformat(self.expected_start) if self.expected_start else None

    def zone(self) -> dt.tzinfo:
        return ZoneInfo(self.timezone) if self.timezone else local_zone()


class DisplaySettings(Settings):
    """What the kiosk screen shows."""

    welcome_seconds: float = Field(5.0, gt=0, le=60)  # how long "Welcome, NAME - IN at 08:59" stays up
    time_format: Literal["24h", "12h"] = "24h"
    preview: bool = True  # the live camera picture on the kiosk screen (kiosk display and admins only)
    preview_fps: float = Field(10.0, gt=0, le=30)


class WebSettings(Settings):
    """The web server for the kiosk screen and the admin pages."""

    host: NonBlank = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    session_minutes: int = Field(30, ge=1, le=24 * 60)
    tls_cert: PathSetting | None = None  # with tls_key: serve HTTPS (cookies then marked Secure)
    tls_key: PathSetting | None = None
    # Every open event stream or camera preview holds a server thread until it ends, so the server has one
    # thread per stream allowed plus request_threads for everything else (web.threads).
    max_event_streams: int = Field(16, ge=1, le=1000)  # open /events and preview streams, for anyone
    reserved_streams: int = Field(4, ge=0, le=100)  # more, only for the kiosk's own display and logged-in admins
    streams_per_client: int = Field(2, ge=1, le=1000)  # open streams per address (not the display's nor an admin's)
    request_threads: int = Field(4, ge=1, le=64)  # threads for pages and everything that is not a stream
    channel_timeout_seconds: int = Field(30, ge=2, le=3600)  # a connection silent this long, with no request under way, closes
    connection_limit: int = Field(100, ge=8, le=10000)  # open connections; beyond it the longest idle ones are closed
    # Reverse proxies (addresses or networks) whose X-Forwarded-For/-Proto/-Host are believed; from
    # anyone else those headers change nothing, and the address that connected decides.
    trusted_proxies: AddressList = Field(default_factory=list)

    @property
    def proxy_networks(self) -> list[Network]:
        return networks(self.trusted_proxies)

    @property
    def threads(self) -> int:
        """The web server's threads: one per stream allowed, and the request threads."""
        return self.max_event_streams + self.reserved_streams + self.request_threads

    @model_validator(mode="after")
    def _connections_hold_the_threads(self) -> WebSettings:
        if self.connection_limit <= self.threads:
            raise _rule(
                f"web.connection_limit ({self.connection_limit}) must exceed the threads it serves: max_event_streams + "
                f"reserved_streams + request_threads = {self.threads}"
            )
        return self

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> WebSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise _rule("web.tls_cert and web.tls_key go together; set both or neither")
        return self


class LivenessSettings(Settings):
    """Whether the face at the door is a live person, not a photo or a screen held
    up to the camera (README "Photos and screens"; the rules in kiosk.liveness)."""

    # off: anyone's picture is welcomed as them; passive: the face mesh's movement and the spoof
    # detector decide, nobody is asked anything; challenge: passive, and the screen asks for a
    # random head turn or a blink before the welcome.
    mode: Literal["off", "passive", "challenge"] = "passive"
    # The detector's mean probability of a real face over the visit's frames: below this, a photo or a
    # screen. It decides only when the head's movement has not already shown a solid head or a flat picture.
    spoof_threshold: float = Field(0.5, gt=0, lt=1)
    wait_seconds: float = Field(0.5, ge=0, le=10)  # a welcome waits up to this long for the movement to decide
    challenge_seconds: float = Field(5.0, ge=2, le=30)  # challenge: time to turn or blink as asked


class PayrollSettings(Settings):
    """Payroll exports (kiosk export --format ...)."""

    overtime_after_hours: float = Field(40.0, gt=0, le=168)  # hours in a week beyond this are overtime (Gusto)


class MetricsSettings(Settings):
    """Prometheus metrics at /metrics: never names; served to loopback and ``scrape_from`` only."""

    enabled: bool = True
    scrape_from: AddressList = Field(default_factory=list)  # addresses or networks of the Prometheus server(s)

    @property
    def scrape_networks(self) -> list[Network]:
        return networks(self.scrape_from)


class FleetSettings(Settings):
    """Membership of a fleet of kiosks that share one PostgreSQL database
    (see the README's "Several kiosks"); empty ``database_url``: standalone."""

    # postgresql://USER@HOST/DB?sslmode=verify-full; keep the password in ~/.pgpass or PGPASSWORD, not here
    database_url: DatabaseUrl = ""
    site: OneLine = ""  # recorded with every punch sent up, e.g. "Back door, Leeds"
    sync_seconds: float = Field(30.0, gt=0, le=3600)  # look for changes at least this often (notices come sooner)
    connect_timeout_seconds: float = Field(5.0, gt=0, le=120)

    @property
    def enabled(self) -> bool:
        return bool(self.database_url)


class Config(Settings):
    """The whole configuration: one table per section, each optional in the file."""

    kiosk: KioskSettings = Field(default_factory=KioskSettings)
    camera: CameraSettings = Field(default_factory=CameraSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    recognition: RecognitionSettings = Field(default_factory=RecognitionSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    attendance: AttendanceSettings = Field(default_factory=AttendanceSettings)
    display: DisplaySettings = Field(default_factory=DisplaySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    fleet: FleetSettings = Field(default_factory=FleetSettings)
    liveness: LivenessSettings = Field(default_factory=LivenessSettings)
    payroll: PayrollSettings = Field(default_factory=PayrollSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)


def config_from_dict(data: dict, source: str = "<config>") -> Config:
    """The settings in ``data`` (a parsed TOML file named ``source``), validated."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        # from None: pydantic's own report repeats every value, secrets included.
        raise ConfigError("\n".join(f"{source}: {describe(error, Config)}" for error in exc.errors())) from None


def load_config(path: str | Path | None) -> Config:
    """Defaults when ``path`` is None; otherwise the TOML file, validated."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))  # TOML is UTF-8 whatever the locale says
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line} is not UTF-8 text; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except ValueError:  # Python's limit on the digits of an integer, which tomllib does not catch
        raise ConfigError(f"{path}: a number has more than 4,300 digits; no setting needs one") from None
    return config_from_dict(data, str(path))
