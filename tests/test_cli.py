"""The ``kiosk`` and ``trainer`` commands as a user runs them."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import lfw_image


def run(tmp_path, *args, stdin=None):
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, input=stdin, timeout=120)


@pytest.mark.parametrize("command", ["kiosk", "trainer"])
def test_help_works(tmp_path, command):
    result = run(tmp_path, command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def test_kiosk_never_imports_tensorflow(tmp_path):
    code = "import sys, kiosk.cli, kiosk.web, kiosk.daemon, kiosk.recognition, kiosk.backup; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_check_config_names_the_bad_key(tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text("[camera]\nsource = 'usb'\nfps = -1\n")
    result = run(tmp_path, "kiosk", "-c", str(config), "check-config")
    assert result.returncode == 2 and f"{config}: camera.fps: must be positive" in result.stderr
    config.write_text("[camera]\nsource = 'usb'\n")
    ok = run(tmp_path, "kiosk", "-c", str(config), "check-config")
    assert ok.returncode == 0 and "OK" in ok.stdout


def test_enroll_identify_list_remove(lfw, tmp_path):
    enrolled = run(tmp_path, "kiosk", "enroll", "--name", "Colin Powell", str(lfw_image("Colin_Powell", 2)))
    assert enrolled.returncode == 0, enrolled.stderr
    employee_id = json.loads(enrolled.stdout)["id"]
    duplicate = run(tmp_path, "kiosk", "enroll", "--name", "Colin twice", str(lfw_image("Colin_Powell", 2)))
    assert duplicate.returncode == 1 and "would be recognised as Colin Powell" in duplicate.stderr
    same = json.loads(run(tmp_path, "kiosk", "identify", str(lfw_image("Colin_Powell", 2))).stdout)
    assert same["decision"] == "accepted" and same["name"] == "Colin Powell"
    assert "Colin Powell" in run(tmp_path, "kiosk", "list").stdout
    assert run(tmp_path, "kiosk", "remove", str(employee_id)).returncode == 0
    missing = run(tmp_path, "kiosk", "remove", str(employee_id))
    assert missing.returncode == 1 and f"no employee with id {employee_id}" in missing.stderr


def test_enroll_refuses_a_non_image(tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("not a photo")
    result = run(tmp_path, "kiosk", "enroll", "--name", "X", str(fake))
    assert result.returncode == 1 and "not an image" in result.stderr


def test_set_password_stores_only_a_hash(tmp_path):
    result = run(tmp_path, "kiosk", "admin", "set-password", "--password-stdin", stdin="a long enough secret\n")
    assert result.returncode == 0
    stored = (tmp_path / "data" / "admin_password").read_text()
    assert "a long enough secret" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    assert oct((tmp_path / "data" / "admin_password").stat().st_mode & 0o777) == "0o600"
    short = run(tmp_path, "kiosk", "admin", "set-password", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr


def test_backup_and_restore_commands(lfw, tmp_path):
    run(tmp_path, "kiosk", "enroll", "--name", "Colin Powell", str(lfw_image("Colin_Powell", 2)))
    backup = run(tmp_path, "kiosk", "backup", str(tmp_path / "b"))
    assert backup.returncode == 0, backup.stderr
    restored = run(tmp_path, "kiosk", "restore", backup.stdout.strip())
    assert restored.returncode == 0 and "1 employees" in restored.stdout
