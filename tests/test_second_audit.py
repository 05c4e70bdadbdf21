"""The second audit (issue 24), one test or more per finding, numbered as in
the issue: an attacker on the network, a fault, a careless manager. The
fleet's findings (1, 2, 5) are in tests/test_fleet.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kiosk.names import InvalidName, clean_name


def kiosk(tmp_path, *args, stdin=None, env=None):
    """The ``kiosk`` command as a user runs it, on a data folder of the test's."""
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=env, input=stdin, timeout=120
    )


# -- 13, 14. names: invisible characters, and bytes that are not text ----------------------------------
@pytest.mark.parametrize(
    "name",
    ["Al\u200bice", "Alice\u2060", "\ufeffAlice", "Ali\u00adce", "Alice\U000e0041", "Al\u200dice", "Alice\u200c"],
)
def test_14_invisible_format_characters_are_refused_in_names(name):
    with pytest.raises(InvalidName, match="invisible"):
        clean_name(name)


def test_14_joiners_that_spell_a_name_stay_allowed():
    # Persian and Indic names need the zero-width (non-)joiner between their letters.
    for name in ("\u0645\u06cc\u200c\u0631\u0648\u062f", "\u0915\u094d\u200d\u0937"):
        assert clean_name(name) == name


def test_13_a_name_that_is_not_text_is_refused_naming_the_option(tmp_path):
    with pytest.raises(InvalidName, match="not valid text"):
        clean_name("Bob\udcff")  # what Python makes of the byte 0xff in a UTF-8 command line
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read")
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"kiosk", b"enroll", b"--name", b"Bob\xff", bytes(photo)],
        capture_output=True,
        env=dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"), LC_ALL="C.UTF-8"),
        timeout=120,
    )
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 1 and "--name" in err and "not valid text" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "kiosk.db").exists()
