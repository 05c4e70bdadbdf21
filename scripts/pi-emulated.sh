#!/usr/bin/env bash
# The Raspberry Pi check without a Pi: an arm64 Debian bookworm root (the base of
# Raspberry Pi OS Bookworm) run under QEMU user emulation. Inside it, as a Pi user
# would: deploy/install.sh, then kiosk check-config, enroll and identify on LFW
# photos, and a short benchmarks/pipeline.py run. The arm64 embeddings and
# decisions are compared with this machine's (scripts/arm64_parity.py).
#
#   sudo scripts/pi-emulated.sh      exit 0 passed, 1 failed, 77 skipped (the reason is printed)
#
# PI_CACHE (default ~/.cache/face-kiosk/arm64-bookworm) keeps the pristine root
# and the apt and pip downloads between runs; every run works on a fresh copy.
# LFW (default ../shared/data/lfw beside the checkout) supplies the photos.
# Timings printed from inside are emulated, not Raspberry Pi figures.
set -euo pipefail

# ---- the steps run on both machines: --steps KIOSK PYTHON REPO PHOTOS OUT ----------------
if [ "${1:-}" = --steps ]; then
  KIOSK=$2 PY=$3 REPO=$4 PHOTOS=$5 OUT=$6
  mkdir -p "$OUT" && rm -f "$OUT"/*.jsonl
  data=$(mktemp -d)
  printf '[kiosk]\ndata_dir = "%s"\n[camera]\nsource = "none"\n' "$data" > "$data/kiosk.toml"
  cd "$PHOTOS"
  "$KIOSK" check-config -c "$data/kiosk.toml"
  while read -r photo; do
    if out=$("$KIOSK" enroll -c "$data/kiosk.toml" --name "${photo%_0001.jpg}" "$photo" 2>"$data/err" </dev/null); then
      "$PY" -c 'import json, sys; print(json.dumps({"photo": sys.argv[2], **json.loads(sys.argv[1])}))' "$out" "$photo"
    else
      "$PY" -c 'import json, sys; print(json.dumps({"photo": sys.argv[1], "error": sys.argv[2].strip().splitlines()[-1]}))' \
        "$photo" "$(cat "$data/err")"
    fi
  done < enrol.txt > "$OUT/enrol.jsonl"
  # shellcheck disable=SC2046
  "$KIOSK" identify -c "$data/kiosk.toml" $(cat probes.txt) > "$OUT/identify.jsonl" || true
  # shellcheck disable=SC2046
  "$PY" "$REPO/scripts/arm64_parity.py" embed $(cat enrol.txt probes.txt) > "$OUT/embeddings.jsonl"
  # The service as it runs: the kiosk serving through waitress (the camera is off here, so /healthz says healthy).
  printf '[web]\nport = 18089\n' >> "$data/kiosk.toml"
  "$KIOSK" run -c "$data/kiosk.toml" > "$data/run.log" 2>&1 &
  server=$!
  "$PY" -c '
import sys, time, urllib.request
import waitress.server  # the server the kiosk is built on
for _ in range(600):
    try:
        with urllib.request.urlopen("http://127.0.0.1:18089/healthz", timeout=5) as answer:
            print("served through waitress: /healthz", answer.status, "Server:", answer.headers.get("Server"))
            sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit("the kiosk did not answer on port 18089")' || { cat "$data/run.log" >&2; kill "$server"; exit 1; }
  kill "$server"
  wait "$server" || true
  rm -rf "$data"
  exit 0
fi

cd "$(dirname "$0")/.."
REPO=$(pwd)
CACHE=${PI_CACHE:-$HOME/.cache/face-kiosk/arm64-bookworm}
LFW=${LFW:-$REPO/../shared/data/lfw}
WORK="$CACHE/work"
skip() { echo "pi-emulated: SKIPPED: $*"; exit 77; }
say() { echo "pi-emulated: $*"; }

[ "$(uname -m)" = x86_64 ] || skip "this machine is $(uname -m); the check emulates arm64 on x86_64"
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, binfmt_misc registration): sudo $0"
[ -f "$LFW/peopleDevTest.txt" ] || skip "no LFW photos at $LFW (set LFW=...)"
[ -x .venv/bin/kiosk ] || skip "no .venv here: run scripts/install.sh dev first (the x86 side of the comparison)"

# One run at a time per cache: two test suites at once would otherwise delete or rebuild each
# other's root mid-install, race on apt and on the binfmt_misc registration. The lock is held
# until this script and everything it started have exited (they inherit the descriptor).
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  say "another run holds $CACHE/.lock; waiting for it to finish"
  flock 9
  say "lock taken after waiting"
fi
if ! command -v debootstrap >/dev/null || [ ! -x /usr/bin/qemu-aarch64-static ]; then
  say "installing qemu-user-static and debootstrap"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap; } >/dev/null \
    || skip "could not install qemu-user-static and debootstrap with apt"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || skip "cannot mount binfmt_misc (a container without it?)"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  # The F flag opens the interpreter now, so it works inside the chroot too.
  # The kernel reads the \x escapes itself, so they are written as they stand.
  # shellcheck disable=SC2028
  echo ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
    > /proc/sys/fs/binfmt_misc/register 2>/dev/null || skip "cannot register qemu-aarch64 in binfmt_misc"
fi

started=$(date +%s)
if [ ! -f "$CACHE/root/.complete" ]; then
  mirror=$(sed -n 's/^URIs: *//p; s/^deb \(http[^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
           | grep -v security | sed -n 1p || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  say "building the arm64 bookworm root from $mirror (about 5 minutes, once)"
  rm -rf "$CACHE/root.partial" && mkdir -p "$CACHE"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$CACHE/root.partial" "$mirror" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE/debootstrap.log"; echo "pi-emulated: debootstrap failed (log: $CACHE/debootstrap.log)"; exit 1; }
  touch "$CACHE/root.partial/.complete" && mv "$CACHE/root.partial" "$CACHE/root"
fi

cleanup() {
  for m in proc dev/pts dev var/cache/apt/archives root/.cache/pip; do
    if mountpoint -q "$WORK/$m"; then umount -R "$WORK/$m" 2>/dev/null || umount -l "$WORK/$m"; fi
  done
  return 0
}
trap cleanup EXIT
cleanup
# Never delete through a mount: /dev is bound into the root while it runs.
if grep -q " $WORK/" /proc/mounts; then echo "pi-emulated: $WORK still has mounts; unmount them first"; exit 1; fi
rm -rf "$WORK" && cp -a "$CACHE/root" "$WORK"
mkdir -p "$CACHE/apt-archives/partial" "$CACHE/pip" "$WORK/root/.cache/pip" "$WORK/srv/face-kiosk" "$WORK/srv/photos"
# No /sys: the arm64 CPU-feature probe (cpuinfo, in XNNPACK) reads this x86 machine's
# /sys/devices/system/cpu and crashes the interpreter; without it, it falls back.
mount -t proc proc "$WORK/proc" && mount --rbind /dev "$WORK/dev"
mount --bind "$CACHE/apt-archives" "$WORK/var/cache/apt/archives" && mount --bind "$CACHE/pip" "$WORK/root/.cache/pip"
cp /etc/resolv.conf "$WORK/etc/resolv.conf"
# Packages must not start their services (dbus, avahi) inside the chroot, on this machine's kernel.
printf '#!/bin/sh\nexit 101\n' > "$WORK/usr/sbin/policy-rc.d" && chmod 0755 "$WORK/usr/sbin/policy-rc.d"
# This machine's CA bundle (a proxy may sign PyPI's certificates) and its apt download settings.
cp /etc/ssl/certs/ca-certificates.crt "$WORK/etc/ssl/certs/host-ca-bundle.crt"
grep -h '^Acquire::.*;[[:space:]]*$' /etc/apt/apt.conf.d/* > "$WORK/etc/apt/apt.conf.d/99host-acquire" || true
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$WORK/srv/face-kiosk" -xf -

# Twenty photos of LFW people never trained on: eight enrolled from their first photo,
# their second photos and four strangers identified.
awk 'NR > 1 && $2 >= 2 && n++ < 8 { print $1 }' "$LFW/peopleDevTest.txt" > "$WORK/srv/photos/people.txt"
: > "$WORK/srv/photos/enrol.txt" && : > "$WORK/srv/photos/probes.txt"
while read -r p; do
  cp "$LFW/images_deepfunneled/$p/${p}_0001.jpg" "$LFW/images_deepfunneled/$p/${p}_0002.jpg" "$WORK/srv/photos/"
  echo "${p}_0001.jpg" >> "$WORK/srv/photos/enrol.txt" && echo "${p}_0002.jpg" >> "$WORK/srv/photos/probes.txt"
done < "$WORK/srv/photos/people.txt"
awk 'NR > 1 && $2 == 1 && n++ < 4 { print $1 }' "$LFW/peopleDevTest.txt" | while read -r p; do
  cp "$LFW/images_deepfunneled/$p/${p}_0001.jpg" "$WORK/srv/photos/" && echo "${p}_0001.jpg" >> "$WORK/srv/photos/probes.txt"
done
mkdir -p "$WORK/srv/photos/lfw/sample" && cp "$WORK"/srv/photos/*.jpg "$WORK/srv/photos/lfw/sample/"

say "x86_64 side (this machine's .venv)"
"$0" --steps "$REPO/.venv/bin/kiosk" "$REPO/.venv/bin/python" "$REPO" "$WORK/srv/photos" "$CACHE/results/x86_64"

say "arm64 side: deploy/install.sh inside the emulated root"
inside() {
  chroot "$WORK" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive "$@"
}
arch=$(inside uname -m)
echo "uname -m inside: $arch"
[ "$arch" = aarch64 ] || { echo "pi-emulated: FAILED: the root runs as $arch, not aarch64"; exit 1; }
inside bash /srv/face-kiosk/deploy/install.sh
inside /opt/face-kiosk/venv/bin/python -c '
import platform, numpy, cv2, psycopg, psycopg_pool, prometheus_client, paho.mqtt.client, importlib.metadata as m
print("python", platform.python_version(), platform.machine())
for p in ("ai-edge-litert", "numpy", "opencv-python-headless", "psycopg-binary", "psycopg-pool", "waitress", "prometheus-client", "paho-mqtt"):
    print(p, m.version(p))
print("psycopg", psycopg.pq.__impl__, "libpq", psycopg.pq.version())'

say "arm64 side: check-config, enroll, identify"
inside /srv/face-kiosk/scripts/pi-emulated.sh --steps /opt/face-kiosk/venv/bin/kiosk /opt/face-kiosk/venv/bin/python \
  /srv/face-kiosk /srv/photos /srv/results
rm -rf "$CACHE/results/aarch64" && cp -a "$WORK/srv/results" "$CACHE/results/aarch64"
echo "identify on arm64:"
cat "$CACHE/results/aarch64/identify.jsonl"

say "arm64 side: benchmarks/pipeline.py (EMULATED timings, not a Pi figure)"
inside bash -c 'cd /srv/face-kiosk && /opt/face-kiosk/venv/bin/python benchmarks/pipeline.py --images /srv/photos/lfw --frames 20 --model default' \
  | sed 's/^/  [emulated] /'

say "comparing x86_64 and arm64"
status=0
.venv/bin/python scripts/arm64_parity.py compare "$CACHE/results/x86_64" "$CACHE/results/aarch64" || status=1
say "took $(( $(date +%s) - started )) s"
exit $status
