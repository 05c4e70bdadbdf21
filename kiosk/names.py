"""What people may type: a person's name, a correction's reason and author,
and the time someone is due; one rule each for the CLI, the admin page and the store."""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 100
# Characters that reorder the text around them: "Bob\u202egnp.exe" shows as "Bobexe.png".
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The zero-width non-joiner and joiner are invisible, but Persian and the Indic
# scripts need them to spell names correctly; after a letter of those scripts
# they stay, anywhere else they would only make "Al\u200dice" pass for "Alice".
JOINERS = frozenset("\u200c\u200d")
JOINING_SCRIPTS = frozenset(
    "ARABIC SYRIAC DEVANAGARI BENGALI GURMUKHI GUJARATI ORIYA TAMIL TELUGU KANNADA MALAYALAM SINHALA MONGOLIAN".split()
)


class InvalidName(ValueError):
    """The message says what to change."""


def _joins_its_script(name: str, index: int) -> bool:
    """A joiner between two letters (or marks) of a script that spells with joiners."""
    if index == 0 or index == len(name) - 1:
        return False
    before, after = name[index - 1], name[index + 1]
    return unicodedata.name(before, "").split(" ")[0] in JOINING_SCRIPTS and unicodedata.category(after)[0] in "LM"


def clean_name(raw: str) -> str:
    """The name as stored (trimmed, Unicode NFC), or InvalidName saying why not."""
    if any(unicodedata.category(ch) == "Cs" for ch in raw or ""):
        # A command line's bytes that are not UTF-8 arrive as lone surrogates, which no database can store.
        raise InvalidName("The name is not valid text (it has bytes that are not UTF-8); type it again.")
    name = unicodedata.normalize("NFC", raw or "").strip()
    if not name:
        raise InvalidName("A name is required.")
    if len(name) > MAX_LENGTH:
        raise InvalidName(f"Names can have at most {MAX_LENGTH} characters (this one has {len(name)}).")
    if any(ch in BIDI_CONTROLS for ch in name):
        raise InvalidName("Names cannot contain text-direction control characters.")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise InvalidName("Names cannot contain line breaks, tabs or other control characters.")
    for i, ch in enumerate(name):
        if unicodedata.category(ch) == "Cf" and not (ch in JOINERS and _joins_its_script(name, i)):
            raise InvalidName(
                f"Names cannot contain invisible characters (U+{ord(ch):04X} at position {i + 1}), "
                "which make one name look like another."
            )
    return name


def _unprintable(text: str) -> str | None:
    """What is wrong with text meant for one line of a page or a CSV cell, or None."""
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        return "is not valid text (it has bytes that are not UTF-8)"
    if any(ch in BIDI_CONTROLS for ch in text):
        return "cannot contain text-direction control characters"
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text):
        return "cannot contain line breaks, tabs, NUL or other control characters"
    return None


def clean_text(raw: str, what: str, max_length: int = 300) -> str:
    """Free text such as a correction's reason, trimmed, or ValueError naming
    ``what`` and saying why not. The fleet database refuses NUL, so a row
    with one could never be sent; the pages and CSV files show the rest."""
    text = (raw or "").strip()
    if not text:
        raise ValueError(f"the {what} is empty")
    if problem := _unprintable(text):
        raise ValueError(f"the {what} {problem}")
    if len(text) > max_length:
        raise ValueError(f"the {what} can have at most {max_length} characters (this one has {len(text)})")
    return text


def clean_time(raw: str | None) -> str | None:
    """A local time of day as HH:MM (None stays None), or ValueError."""
    if raw is not None and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", raw):
        raise ValueError(f"{raw!r} is not a time such as 08:30")
    return raw
