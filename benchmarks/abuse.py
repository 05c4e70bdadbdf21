"""The hardening issue's attacks against a real kiosk on loopback, with the memory they cost.

    .venv/bin/python benchmarks/abuse.py [--port 18780]

Starts ``kiosk run --source none`` on a fresh data folder, then:
1. 40 parallel wrong-password logins from one address, each with its own
   session and CSRF token: peak memory, and how many passwords were actually
   checked (the kiosk logs each failed check);
2. 2 concurrent uploads of a maximum-size photo (just under the pixel cap)
   by an admin logged in from another loopback address: peak memory;
3. uploads of small files that decode huge (a lossless WebP, a TIFF, an icon
   holding a 36-megapixel PNG, that PNG itself): each answer and the peak
   over the memory before them (the issue asks under 150 MB).
Peak memory is the kernel's high-water mark (VmHWM) of the kiosk process,
read after each step; the baseline is read before the first.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import http.cookiejar
import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from kiosk.enrollment import MAX_PIXELS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.helpers
from tests.helpers import format_bombs  # noqa: E402

PASSWORD = "a long enough secret"


def memory(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak(pid: int) -> None:
    """Linux resets VmHWM to the current size when '5' is written to clear_refs."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class FromAddress(urllib.request.HTTPHandler):
    """Connect from a chosen local address (loopback has many)."""

    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.source, 0)), req)


class Browser:
    """One client with its own cookie jar (its own session)."""

    def __init__(self, base: str, source: str = "127.0.0.1"):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), FromAddress(source)
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=120) as r:
            return r.read().decode()

    def token(self, path: str) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.get(path)).group(1)

    def post(self, path: str, data: bytes, content_type: str) -> int:
        request = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": content_type})
        try:
            with self.opener.open(request, timeout=300) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def login(self, password: str, token: str) -> int:
        return self.post(
            "/admin/login",
            urllib.parse.urlencode({"csrf_token": token, "password": password}).encode(),
            "application/x-www-form-urlencoded",
        )


def multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "----abuse" + os.urandom(8).hex()
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def biggest_photo() -> bytes:
    """A smooth JPEG just under the pixel cap (about 1 MB on disk, like the audit's)."""
    width = 6100
    height = MAX_PIXELS // width - 1
    ramp = np.linspace(40, 220, width, dtype=np.float32)
    image = np.repeat(ramp[None, :, None], 3, axis=2).repeat(height, axis=0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=18780)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, KIOSK_DATA_DIR=folder)
        subprocess.run(
            [sys.executable, "-m", "kiosk", "admin", "set-password", "--password-stdin"],
            input=PASSWORD + "\n",
            text=True,
            env=env,
            check=True,
        )
        config = Path(folder) / "kiosk.toml"
        config.write_text(f"[camera]\nsource = 'none'\n[web]\nport = {args.port}\n")
        log = open(Path(folder) / "kiosk.log", "w")
        kiosk = subprocess.Popen([sys.executable, "-m", "kiosk", "-c", str(config), "run"], env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            time.sleep(1)
            rss, _ = memory(kiosk.pid)
            print(f"kiosk started: {rss:.0f} MB resident (admin-only, the default model loaded)")

            # 1. 40 parallel wrong logins, each its own session and token
            reset_peak(kiosk.pid)
            browsers = [Browser(base) for _ in range(40)]
            tokens = [b.token("/admin/login") for b in browsers]
            codes: list[int] = []
            threads = [
                threading.Thread(target=lambda b=b, t=t: codes.append(b.login("wrong guess", t)))
                for b, t in zip(browsers, tokens, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(0.5)
            _, peak = memory(kiosk.pid)
            checked = Path(log.name).read_text().count("failed admin login")
            print(
                f"40 parallel wrong logins: peak {peak:.0f} MB; passwords checked: {checked}; "
                f"answers: {codes.count(401)} x 401 wrong password, {codes.count(429)} x 429 too many attempts"
            )

            # 2. two concurrent maximum-size uploads
            admin = Browser(base, source="127.0.0.2")  # another address: the flood above has used this one's attempts
            photo = biggest_photo()
            status = admin.login(PASSWORD, admin.token("/admin/login"))
            if status not in (200, 302):
                print(f"could not log in for the upload test (status {status})")
                return 1
            reset_peak(kiosk.pid)
            results: list[int] = []

            def upload(name: str) -> None:
                body, kind = multipart({"csrf_token": admin.token("/admin/"), "name": name}, "photo", "big.jpg", photo)
                results.append(admin.post("/admin/enroll", body, kind))

            uploads = [threading.Thread(target=upload, args=(f"Upload {i}",)) for i in range(2)]
            for t in uploads:
                t.start()
            for t in uploads:
                t.join()
            _, peak = memory(kiosk.pid)
            print(
                f"2 concurrent {MAX_PIXELS / 1e6:.0f}-megapixel uploads ({len(photo) / 1e6:.1f} MB each): peak {peak:.0f} MB; "
                f"answers {sorted(results)} (422: no face in a gradient, as expected)"
            )

            # 3. small files that decode huge, one after another
            before, _ = memory(kiosk.pid)
            reset_peak(kiosk.pid)
            for name, data in format_bombs().items():
                body, kind = multipart({"csrf_token": admin.token("/admin/"), "name": "Bomb"}, "photo", f"bomb.{name}", data)
                status = admin.post("/admin/enroll", body, kind)
                _, peak = memory(kiosk.pid)
                print(
                    f"{name} bomb ({len(data):,} bytes): answer {status}; peak {max(peak - before, 0):.0f} MB over the {before:.0f} MB before"
                )
        finally:
            kiosk.terminate()
            kiosk.wait(timeout=30)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
