"""How a configuration error is worded: one pydantic error as a sentence that
names the key, what is allowed and, unless the value is secret, what was given
(kiosk.config adds the file's name)."""

from __future__ import annotations

import difflib
import typing

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from kiosk.setting_types import Hint, shown

_WORDS = {
    "int_type": "expected a whole number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def describe(error: ErrorDetails, root: type[BaseModel]) -> str:
    """One pydantic error as a sentence naming the key, what is allowed and, unless secret, what was given."""
    loc, kind = error["loc"], error["type"]
    where = ".".join(map(str, loc))
    if kind == "config_rule":
        return error["ctx"]["text"]
    if kind == "address_list":
        return f"{where}: {error['ctx']['text']}"
    if kind == "extra_forbidden":
        known = list(_section(root, loc[:-1]).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        what = f"unknown section [{where}]" if len(loc) == 1 else f"{where}: unknown key"
        return f"{what} (known: {', '.join(known)}){suggestion}"
    if kind == "model_type":
        return f"[{where}] must be a table"
    field = _section(root, loc[:-1]).model_fields[loc[-1]]
    hint = next((m for m in field.metadata if isinstance(m, Hint)), Hint())
    got = "" if hint.secret else f", got {shown(error['input'])}"
    if kind in _WORDS:
        return f"{where}: {_WORDS[kind]}{got}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"{where}: must be {words} {error['ctx'][name]:g}{got}"  # "at least 0", not pydantic's 0.0
    if kind == "literal_error":
        return f"{where}: must be one of {', '.join(typing.get_args(field.annotation))}{got}"
    if kind == "string_pattern_mismatch":
        value = "the value" if hint.secret else shown(error["input"])
        return f"{where}: {value} is not in the expected form ({hint.form})"
    return f"{where}: {error['msg']}{got}"


def _section(root: type[BaseModel], loc: tuple) -> type[BaseModel]:
    """The model that holds the key at ``loc`` (``root`` itself for a section name)."""
    model = root
    for part in loc:
        model = model.model_fields[part].annotation
    return model
