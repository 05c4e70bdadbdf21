"""The appliance files: unit, installer, shell scripts."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELL_SCRIPTS = [
    ROOT / "deploy" / "install.sh",
    ROOT / "scripts" / "install.sh",
    ROOT / "scripts" / "test.sh",
    ROOT / ".ci" / "run",
    ROOT / "scripts" / "pi-emulated.sh",
]


def test_shell_scripts_pass_shellcheck():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (apt install shellcheck; scripts/test.sh does it as root)")
    result = subprocess.run(["shellcheck", "--shell=bash", *map(str, SHELL_SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_systemd_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (apt install systemd)")
    unit = (ROOT / "deploy" / "face-kiosk.service").read_text()
    # verify needs ExecStart to exist: point it at this checkout's kiosk command.
    kiosk = Path(sys.executable).parent / "kiosk"
    unit = unit.replace("/opt/face-kiosk/venv/bin/kiosk", str(kiosk))
    path = tmp_path / "face-kiosk.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if "face-kiosk.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_unit_is_sandboxed_and_uses_notify_with_watchdog():
    unit = (ROOT / "deploy" / "face-kiosk.service").read_text()
    for setting in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=face-kiosk",
        "ConfigurationDirectory=face-kiosk",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "User=face-kiosk",
        "DeviceAllow=char-video4linux rw",
    ):
        assert setting in unit


def run_installer(tmp_path, *args):
    env = dict(os.environ, PATH=os.environ["PATH"])
    return subprocess.run(
        ["bash", str(ROOT / "deploy" / "install.sh"), "--dry-run", "--root", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
    )


def test_installer_dry_run_writes_the_expected_files(tmp_path):
    result = run_installer(tmp_path, "--edgetpu")
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "etc/systemd/system/face-kiosk.service"
    config = tmp_path / "etc/face-kiosk/kiosk.toml"
    assert unit.read_text() == (ROOT / "deploy/face-kiosk.service").read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "var/lib/face-kiosk").stat().st_mode) == 0o750
    assert "edgetpu = true" in config.read_text()
    assert (tmp_path / "etc/xdg/autostart/face-kiosk-display.desktop").is_file()
    for command in (
        "apt-get install -y python3-venv python3-picamera2 chromium",
        "libedgetpu1-std",
        "python3 -m venv --system-site-packages",
        "systemctl enable --now face-kiosk.service",
    ):
        assert command in result.stdout
    assert "kiosk enroll" in result.stdout  # tells the admin what to do next

    # A second run keeps the admin's edited config.
    config.write_text("[kiosk]\nid = 'front-door'\n")
    assert run_installer(tmp_path).returncode == 0
    assert "front-door" in config.read_text()

    # The example config is itself valid.
    from kiosk.config import load_config

    load_config(ROOT / "deploy/kiosk.toml.example")


def test_uninstall_keeps_data_unless_purged(tmp_path):
    assert run_installer(tmp_path).returncode == 0
    (tmp_path / "var/lib/face-kiosk/kiosk.db").write_text("data")
    kept = run_installer(tmp_path, "--uninstall")
    assert kept.returncode == 0 and "data kept" in kept.stdout
    assert not (tmp_path / "etc/systemd/system/face-kiosk.service").exists()
    assert (tmp_path / "var/lib/face-kiosk/kiosk.db").exists()
    assert run_installer(tmp_path, "--uninstall", "--purge-data").returncode == 0
    assert not (tmp_path / "var/lib/face-kiosk").exists()


def test_installer_refuses_unknown_options(tmp_path):
    result = run_installer(tmp_path, "--frobnicate")
    assert result.returncode == 2 and "unknown option" in result.stderr


def test_every_file_the_kiosk_reads_at_run_time_is_packaged():
    """deploy/install.sh installs the project with pip (not editable): a data file the
    package-data globs miss is absent on the Pi (it happened to the landmark model)."""
    import fnmatch
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["kiosk"]
    package = ROOT / "kiosk"
    data = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "evaluation" not in p.parts and "__pycache__" not in p.parts
    ]
    assert data, "no data files found"
    missing = [f for f in data if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert missing == [], f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
