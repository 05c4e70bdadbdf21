"""The kiosk's one typed configuration object, loaded from TOML.

Every key has a default that works on a fresh machine; unknown keys and bad
values are errors naming the file and the key.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.quality import QualitySettings

MODELS_DIR = Path(__file__).parent / "models"
# The models that ship with the kiosk: dlib's ResNet (accurate; the default)
# and a small 64 px network for weak hardware.
BUNDLED_MODELS = {"default": MODELS_DIR / "face_embedding_int8.tflite", "fast": MODELS_DIR / "fast_embedding_int8.tflite"}
BUNDLED_MODEL = BUNDLED_MODELS["default"]


class ConfigError(ValueError):
    """Names the file and the key at fault."""


def default_data_dir() -> Path:
    return Path(os.environ.get("KIOSK_DATA_DIR", Path.home() / ".local" / "share" / "face-kiosk"))


@dataclass(frozen=True)
class KioskSettings:
    id: str = "kiosk-1"
    data_dir: Path = field(default_factory=default_data_dir)


@dataclass(frozen=True)
class CameraSettings:
    source: str = "auto"  # auto | picamera | usb | replay | none
    device: int = 0  # V4L2 index for usb
    replay_path: str = ""  # folder of images or a video file for replay
    width: int = 640
    height: int = 480
    fps: float = 15.0


@dataclass(frozen=True)
class ModelSettings:
    """Which embedding model runs, and how."""

    bundled: str = "default"  # default | fast: which bundled model, unless path is set
    path: Path | None = None  # a model of your own (its .json sidecar beside it)
    threads: int = 2
    edgetpu: bool = False
    threshold: float | None = None  # None: the calibrated threshold from the sidecar

    @property
    def file(self) -> Path:
        return self.path if self.path is not None else BUNDLED_MODELS[self.bundled]


@dataclass(frozen=True)
class RecognitionSettings:
    frames_needed: int = 3  # k consistent frames ...
    frames_window: int = 5  # ... out of the last n
    margin_fraction: float = 0.1  # the runner-up must be this fraction of the threshold further away than the best match
    stranger_accept_rate: float = 0.01  # chance a stranger's face passes as someone; sets the threshold for the gallery size
    fair_rate_factor: float = 0.3  # a fair-quality face is held to this fraction of that chance
    cooldown_seconds: float = 60.0


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    session_minutes: int = 30


@dataclass(frozen=True)
class Config:
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    web: WebSettings = field(default_factory=WebSettings)


_CHOICES = {("camera", "source"): ("auto", "picamera", "usb", "replay", "none"), ("model", "bundled"): tuple(BUNDLED_MODELS)}
_POSITIVE = {
    ("camera", "width"), ("camera", "height"), ("camera", "fps"), ("model", "threads"),
    ("recognition", "frames_needed"), ("recognition", "frames_window"), ("web", "port"), ("web", "session_minutes"),
}


def _coerce(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _coerce(value, options[0], where)
    if annotation is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return Path(value).expanduser()
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
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
        values = {}
        for key, value in section.items():
            where = f"{source}: {section_name}.{key}"
            if key not in field_types:
                raise ConfigError(f"{where}: unknown key (known: {', '.join(field_types)})")
            value = _coerce(value, field_types[key], where)
            if (section_name, key) in _CHOICES and value not in _CHOICES[(section_name, key)]:
                raise ConfigError(f"{where}: must be one of {', '.join(_CHOICES[(section_name, key)])}, got {value!r}")
            if (section_name, key) in _POSITIVE and value <= 0:
                raise ConfigError(f"{where}: must be positive, got {value!r}")
            values[key] = value
        sections[section_name] = cls(**values)
    config = Config(**sections)
    rec = config.recognition
    if rec.frames_needed > rec.frames_window:
        raise ConfigError(f"{source}: recognition.frames_needed ({rec.frames_needed}) exceeds frames_window ({rec.frames_window})")
    if config.model.threshold is not None and not 0 < config.model.threshold < 2:
        raise ConfigError(f"{source}: model.threshold must lie between 0 and 2, got {config.model.threshold}")
    return config


def load_config(path: str | Path | None) -> Config:
    """Defaults when ``path`` is None; otherwise the TOML file, validated."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return config_from_dict(data, str(path))
