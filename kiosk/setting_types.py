"""The kinds of value a setting can take, each with its rule: paths, times,
ids, one-line text, the fleet's database URL, lists of proxy addresses; and
how an error describes a setting (its :class:`Hint`) and repeats a value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from kiosk.addresses import networks


@dataclass(frozen=True)
class Hint:
    """How errors describe a setting: ``form`` says in words what its pattern
    allows; a ``secret`` value (it may hold a password) is never repeated."""

    form: str = ""
    secret: bool = False


def rule(text: str) -> PydanticCustomError:
    """A broken rule whose message is complete: it names its keys itself."""
    return PydanticCustomError("config_rule", "{text}", {"text": text})


def _not_blank(value):
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


def _path(value):
    # TOML has no path type, so a path is a string; "~" means the user's home, as in a shell.
    if isinstance(value, str) and value:
        value = Path(value)
    if not isinstance(value, Path):
        raise PydanticCustomError("path_type", "expected a path")
    return value.expanduser()


def _address_list(value):
    # Checked whole, so that a wrong entry is named (pydantic would name only its index);
    # kiosk.config_errors puts the key in front.
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise address_error('expected a list of addresses such as ["127.0.0.1"], got ' + shown(value))
    try:
        networks(value)
    except ValueError as exc:
        raise address_error(str(exc)) from None
    return value


def address_error(text: str) -> PydanticCustomError:
    return PydanticCustomError("address_list", "{text}", {"text": text})


# The validators come last in each Annotated so that they run first: an empty
# id is "empty", not "not in the expected form"; a string becomes a Path before
# the strict Path check.
PathSetting = Annotated[Path, BeforeValidator(_path)]
AddressList = Annotated[list[str], BeforeValidator(_address_list)]
NonBlank = Annotated[str, BeforeValidator(_not_blank)]
Time = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$"), Hint("a time such as 04:00")]
TimeOrEmpty = Annotated[str, Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d)?$"), Hint("a time such as 08:30, or empty")]
KioskId = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9._-]{1,40}$"),
    Hint("letters, digits, '.', '_' or '-', at most 40"),
    BeforeValidator(_not_blank),
]
OneLine = Annotated[str, Field(pattern=r"^[^\x00-\x1f]{0,80}$"), Hint("at most 80 characters on one line")]
DatabaseUrl = Annotated[
    str,
    Field(pattern=r"^(postgres(ql)?://\S+)?$", repr=False),
    Hint("a URL such as postgresql://door_a@db.example/kiosk?sslmode=verify-full, or empty", secret=True),
]


def shown(value) -> str:
    """A value as the error repeats it: 300 digits or a pasted page would hide the message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


class Settings(BaseModel):
    """A table of the config file. Values are checked strictly, as TOML gives
    them (1.0 is not a whole number, "yes" is not true, NaN is not a number),
    unknown keys are errors and nothing changes after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
