"""The ``kiosk`` and ``trainer`` commands as a user runs them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import lfw_image


def run(tmp_path, *args, stdin=None):
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, input=stdin, timeout=120)


# The trainer imports TensorFlow before it can answer: 5-9 s here.
@pytest.mark.parametrize("command", ["kiosk", pytest.param("trainer", marks=pytest.mark.slow)])
def test_help_works(tmp_path, command):
    result = run(tmp_path, command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def test_kiosk_never_imports_tensorflow(tmp_path):
    code = "import sys, kiosk.cli, kiosk.web, kiosk.loop, kiosk.recognition, kiosk.backup; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_check_config_names_the_bad_key(tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text("[camera]\nsource = 'usb'\nfps = -1\n")
    result = run(tmp_path, "kiosk", "-c", str(config), "check-config")
    assert result.returncode == 2 and f"{config}: camera.fps: must be greater than 0" in result.stderr
    config.write_text("[camera]\nsource = 'usb'\n")
    ok = run(tmp_path, "kiosk", "-c", str(config), "check-config")
    assert ok.returncode == 0 and "OK" in ok.stdout


@pytest.mark.lfw
def test_enroll_identify_list_remove(lfw, tmp_path):
    enrolled = run(tmp_path, "kiosk", "enroll", "--name", "Colin Powell", str(lfw_image("Colin_Powell", 2)))
    assert enrolled.returncode == 0, enrolled.stderr
    employee_id = json.loads(enrolled.stdout)["id"]
    duplicate = run(tmp_path, "kiosk", "enroll", "--name", "Colin twice", str(lfw_image("Colin_Powell", 2)))
    assert duplicate.returncode == 1 and "would be recognised as Colin Powell" in duplicate.stderr
    same = json.loads(run(tmp_path, "kiosk", "identify", str(lfw_image("Colin_Powell", 2))).stdout)
    assert same["decision"] == "accepted" and same["name"] == "Colin Powell"
    # check-config names the thresholds the kiosk decides with for the gallery it has now: the one identify used.
    checked = run(tmp_path, "kiosk", "check-config").stdout
    assert "with 1 person the door decides a visit at" in checked and f"one photo at {same['threshold']:.4f}" in checked
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


@pytest.mark.lfw
def test_backup_and_restore_commands(lfw, tmp_path):
    run(tmp_path, "kiosk", "enroll", "--name", "Colin Powell", str(lfw_image("Colin_Powell", 2)))
    backup = run(tmp_path, "kiosk", "backup", str(tmp_path / "b"))
    assert backup.returncode == 0, backup.stderr
    restored = run(tmp_path, "kiosk", "restore", backup.stdout.strip())
    assert restored.returncode == 0 and "1 employees" in restored.stdout


@pytest.mark.lfw
def test_identify_takes_many_photos_and_folders_one_json_line_each(lfw, tmp_path):
    assert run(tmp_path, "kiosk", "enroll", "--name", "Colin Powell", str(lfw_image("Colin_Powell", 2))).returncode == 0
    folder = tmp_path / "photos"
    folder.mkdir()
    for person, number in (("Colin_Powell", 5), ("Tony_Blair", 2)):
        (folder / f"{person}.jpg").write_bytes(lfw_image(person, number).read_bytes())
    (folder / "notes.txt").write_text("not a photo, and not .jpg: skipped")
    result = run(tmp_path, "kiosk", "identify", str(folder), str(tmp_path / "missing.jpg"))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["photo"]).name for r in lines] == ["Colin_Powell.jpg", "Tony_Blair.jpg", "missing.jpg"]
    colin, tony, missing = lines
    assert colin["decision"] == "accepted" and colin["name"] == "Colin Powell" and colin["quality"] in ("good", "fair")
    assert tony["decision"] == "unknown"
    assert "no such file" in missing["error"] and result.returncode == 1


def test_list_names_who_needs_a_new_photo(tmp_path):
    import numpy as np

    from kiosk.store import Store

    store = Store(tmp_path / "data" / "kiosk.db")
    store.add_employee(
        "Old Model",
        image=None,
        face=None,
        crop=np.zeros((64, 64, 3), np.uint8),
        embedding=np.ones(128, np.float32),
        model_version="2020.01.01-old",
    )
    store.close()
    listed = run(tmp_path, "kiosk", "list")
    assert listed.returncode == 0 and "Old Model\t" in listed.stdout and "NEEDS A NEW PHOTO" in listed.stdout


def test_options_work_after_the_command_too(tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text("[web]\nport = 70000\n")
    after = run(tmp_path, "kiosk", "check-config", "-c", str(config))
    assert after.returncode == 2 and "web.port: must be at most 65535" in after.stderr


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[web]\nhost = 'no-such-host.invalid'\n", "web.host: cannot resolve 'no-such-host.invalid'"),
        ("[camera]\nsource = 'replay'\nreplay_path = '/nowhere/frames'\n", "camera.replay_path: /nowhere/frames not found"),
    ],
)
def test_check_config_checks_what_run_needs(tmp_path, text, needle):
    config = tmp_path / "kiosk.toml"
    config.write_text(text)
    result = run(tmp_path, "kiosk", "-c", str(config), "check-config")
    assert result.returncode == 2 and needle in result.stderr


def test_check_config_loads_the_model_as_run_does(tmp_path):
    """A model whose header is fine but whose body is not, and a sidecar that lies about the embedding size."""
    import shutil

    from kiosk.config import BUNDLED_MODEL

    broken = tmp_path / "m.tflite"
    data = bytearray(BUNDLED_MODEL.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096
    broken.write_bytes(bytes(data[: len(data) // 2]))
    shutil.copy(BUNDLED_MODEL.with_suffix(".json"), tmp_path / "m.json")
    sidecar = json.loads((tmp_path / "m.json").read_text())
    sidecar["model_file"] = "m.tflite"
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    config = tmp_path / "kiosk.toml"
    config.write_text(f"[model]\npath = '{broken}'\n")
    truncated = run(tmp_path, "kiosk", "-c", str(config), "check-config")
    assert truncated.returncode == 1 and "m.tflite: not a loadable TFLite model" in truncated.stderr
    shutil.copy(BUNDLED_MODEL, broken)
    sidecar["embedding_size"] = 64
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    lying = run(tmp_path, "kiosk", "-c", str(config), "check-config")
    assert lying.returncode == 1 and "embedding_size 64 but the model outputs 128" in lying.stderr


def test_one_off_commands_print_results_not_log_chatter(tmp_path):
    result = run(tmp_path, "kiosk", "check-config")
    assert result.returncode == 0 and result.stderr == "" and "OK" in result.stdout
    verbose = run(tmp_path, "kiosk", "check-config", "-v")
    assert "INFO" in verbose.stderr or "DEBUG" in verbose.stderr


def test_read_only_commands_do_not_create_a_database(tmp_path):
    listed = run(tmp_path, "kiosk", "list")
    assert listed.returncode == 1 and "no kiosk database here" in listed.stderr
    assert not (tmp_path / "data" / "kiosk.db").exists()
