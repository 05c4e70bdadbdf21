"""What a person's name may be: one rule for the CLI, the admin page and the store."""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 100
# Characters that reorder the text around them: "Bob\u202egnp.exe" shows as "Bobexe.png".
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class InvalidName(ValueError):
    """The message says what to change."""


def clean_name(raw: str) -> str:
    """The name as stored (trimmed, Unicode NFC), or InvalidName saying why not."""
    name = unicodedata.normalize("NFC", raw or "").strip()
    if not name:
        raise InvalidName("A name is required.")
    if len(name) > MAX_LENGTH:
        raise InvalidName(f"Names can have at most {MAX_LENGTH} characters (this one has {len(name)}).")
    if any(ch in BIDI_CONTROLS for ch in name):
        raise InvalidName("Names cannot contain text-direction control characters.")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise InvalidName("Names cannot contain line breaks, tabs or other control characters.")
    return name
