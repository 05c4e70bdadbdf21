"""What a person's name may be: one rule for the CLI, the admin page and the store."""

from __future__ import annotations

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
