#!/usr/bin/env bash
# Installs everything (kiosk, trainer, test tools) into .venv and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh dev
mkdir -p test-output
exec .venv/bin/python -m pytest "$@"
