"""The Raspberry Pi check under emulation (scripts/pi-emulated.sh, docs/raspberry-pi.md):
deploy/install.sh, enroll and identify in an arm64 Debian bookworm root, with
the embeddings and decisions compared with this machine's."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = 77
LOG = ROOT / "test-output" / "pi-emulated.log"


@pytest.mark.slow
@pytest.mark.lfw
def test_the_kiosk_installs_and_decides_the_same_on_emulated_arm64():
    result = subprocess.run([str(ROOT / "scripts" / "pi-emulated.sh")], capture_output=True, text=True, timeout=40 * 60)
    if result.returncode == SKIPPED:
        pytest.skip(result.stdout.strip().splitlines()[-1])
    output = result.stdout + result.stderr
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text(output)  # the versions, identify results and emulated timings, for the record
    assert result.returncode == 0, output[-6000:]
    assert "psycopg-binary 3." in output and "libpq" in output  # a fleet member's driver has its aarch64 wheel
    assert "prometheus-client 0." in output  # /metrics: pure Python, installed like waitress
    assert "paho-mqtt 2." in output  # Home Assistant over MQTT: pure Python too
    assert "uname -m inside: aarch64" in output
    assert '"decision": "accepted"' in output  # the identify JSON from inside
    assert "served through waitress: /healthz 200 Server: face-kiosk" in output  # on both machines
    assert "arm64 parity: PASSED" in output
