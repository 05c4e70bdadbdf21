"""The settings of the kiosk's connections to the office's other tools: the
REST API, webhooks and MQTT (sections of :class:`kiosk.config.Config`, in a
module of their own so each stays small). Every connection is off, or
reachable only from this machine, until it is configured."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, model_validator

from kiosk.setting_types import Hint, PathSetting, Settings, rule, shown


def _url_list(value):
    # Checked whole, so that a wrong entry is named (pydantic would name only its index).
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise rule('webhooks.urls: expected a list of URLs such as ["https://chat.example/hook"], got ' + shown(value))
    for entry in value:
        parts = urlsplit(entry)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise rule(f"webhooks.urls: {entry!r} is not an http:// or https:// URL with a host")
    return value


UrlList = Annotated[list[str], BeforeValidator(_url_list)]


class ApiSettings(Settings):
    """The REST API under /api/v1, for tokens an admin creates on the admin pages."""

    enabled: bool = True
    requests_per_minute: int = Field(120, ge=1, le=100_000)  # per token; beyond it, 429 Too Many Requests


class WebhookSettings(Settings):
    """JSON POSTs on punches, corrections, spoofs and the camera going down, signed
    with HMAC-SHA256 and retried from a queue in the database; no ``urls``: none."""

    urls: UrlList = Field(default_factory=list)
    secret_file: PathSetting | None = None  # the signing key, one line; required with urls
    include_names: bool = False  # names in the bodies (otherwise employee ids only)
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    max_retry_seconds: float = Field(300.0, ge=1, le=86_400)  # the back-off between tries grows to this
    keep_hours: float = Field(168.0, gt=0, le=24 * 365)  # an event not delivered in this long is given up (logged)

    @model_validator(mode="after")
    def _signed(self) -> WebhookSettings:
        if self.urls and self.secret_file is None:
            raise rule("webhooks.secret_file: required with webhooks.urls (a file holding the signing key, one line)")
        return self


class MqttSettings(Settings):
    """State for Home Assistant over MQTT (discovery under ``discovery_prefix``); empty ``host``: off."""

    host: str = ""
    port: int = Field(1883, ge=1, le=65535)
    tls: bool = False  # with ca_file, or the system's certificates
    ca_file: PathSetting | None = None
    username: str = ""
    password_file: PathSetting | None = None  # the password, one line (never in this file)
    discovery_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/-]{1,64}$"), Hint("letters, digits, '_', '-' or '/'")] = (
        "homeassistant"
    )
    topic: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/-]{1,64}$"), Hint("letters, digits, '_', '-' or '/'")] = "face-kiosk"
    per_person: bool = False  # one presence sensor per person: publishes names to the broker
    keepalive_seconds: int = Field(60, ge=5, le=3600)

    @property
    def enabled(self) -> bool:
        return bool(self.host)
