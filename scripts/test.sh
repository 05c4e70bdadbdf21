#!/usr/bin/env bash
# Installs everything (kiosk, trainer, test tools) into .venv, then runs ruff and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh dev
# Tools some tests use: shellcheck, systemd-analyze, a real browser, a CJK font, a PostgreSQL server and an MQTT
# broker. Installed where apt can (as root); the tests that need them skip with a reason elsewhere.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  command -v shellcheck >/dev/null || missing="$missing shellcheck"
  command -v systemd-analyze >/dev/null || missing="$missing systemd"
  command -v chromium >/dev/null || missing="$missing chromium"
  command -v chromedriver >/dev/null || missing="$missing chromium-driver"
  # Names in Chinese, Japanese and Korean need a font that has them (screenshots of the kiosk screen).
  dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || missing="$missing fonts-wqy-zenhei"
  # The fleet tests start their own server in a temporary folder (tests/postgres_server.py).
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing="$missing postgresql"
  # The MQTT tests start their own broker on a free port (tests/test_mqtt_bridge.py).
  [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing="$missing mosquitto"
  if [ -n "$missing" ]; then
    echo "installing test tools:$missing"
    # shellcheck disable=SC2086
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >/dev/null \
      || echo "could not install$missing; the tests that need them will skip"
  fi
fi
mkdir -p test-output
# Lint and formatting take a second: they run first, but the tests run whatever they say, so one run shows
# everything; a finding fails the run at the end.
lint=0
.venv/bin/ruff check . || lint=1
.venv/bin/ruff format --check --output-format concise . || lint=1
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$lint" != 0 ]; then
  echo "ruff found problems (listed above the tests): .venv/bin/ruff check --fix . and .venv/bin/ruff format . fix most"
  [ "$status" != 0 ] || status=1
fi
exit "$status"
