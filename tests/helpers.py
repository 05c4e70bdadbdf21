"""What several test modules (and a few benchmarks) share: paths, LFW photos,
punching, the admin pages through Flask's test client, a real browser and a
tiny training set. Fixtures live in conftest.py; everything here is a plain
function or constant, so a test module imports it by name and no test module
imports another."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KIOSK_SHARED", ROOT.parent / "shared"))
LFW = SHARED / "data" / "lfw"
LFW_IMAGES = LFW / "images_deepfunneled"
LFW_DLIB = SHARED / "data" / "lfw-dlib" / "descriptors.npz"
TEST_OUTPUT = ROOT / "test-output"

# The admin password every web test sets.
PASSWORD = "correct horse battery"


def lfw_image(person: str, number: int = 1) -> Path:
    return LFW_IMAGES / person / f"{person}_{number:04d}.jpg"


def photo_bytes(person: str, number: int = 1) -> bytes:
    return lfw_image(person, number).read_bytes()


# ---- attendance ----------------------------------------------------------------------------------


def punch(store, employee_id, at, cooldown_seconds=0.0, kiosk_id="k", distance=0.1, day_start=None):
    """What the kiosk records for a recognised face at ``at``: the application's
    one way to write a punch, with the attendance rules in UTC days."""
    from kiosk.application import Application
    from kiosk.config import AttendanceSettings

    start = (day_start or dt.time(0)).strftime("%H:%M")
    rules = AttendanceSettings(cooldown_seconds=cooldown_seconds, day_start=start, timezone="UTC")
    return Application(store, None, rules, kiosk_id, clock=lambda: at).record_visit(employee_id, distance).entry


# ---- the kiosk's pieces, as the composition root wires them ----------------------------------------


def application(store, encoder=None, recognition=None, rules=None, kiosk_id="k", clock=None):
    """The application layer on ``store``; with ``encoder``, it recognises too."""
    from kiosk.application import Application
    from kiosk.config import AttendanceSettings, RecognitionSettings
    from kiosk.recognition import Recognizer

    recognizer = Recognizer(encoder, recognition or RecognitionSettings()) if encoder is not None else None
    return Application(store, recognizer, rules or AttendanceSettings(), kiosk_id, clock)


def services(db_path, status=None, encoder=None, **kw):
    """What the web pages need: the status, and the application on the SQLite file ``db_path``."""
    from kiosk.status import Status
    from kiosk.store import Store
    from kiosk.web import Services

    return Services(status or Status(), application(Store(db_path), encoder), **kw)


def enrol_lfw(store, encoder, person: str, number: int = 1, name: str | None = None) -> int:
    """``person``'s LFW photo ``number`` enrolled straight into ``store`` (as ``name``, or their name with spaces)."""
    import cv2

    from kiosk.enrollment import make_reference

    ref = make_reference(encoder, cv2.imread(str(lfw_image(person, number))))
    return store.add_employee(
        name or person.replace("_", " "),
        image=ref.image,
        face=ref.face,
        crop=ref.crop,
        embedding=ref.embedding,
        model_version=encoder.embedder.contract.version,
    )


class FakeClock:
    """Camera time that a :class:`FrameFeed` moves on a frame at a time (``fps``), and
    the wall-clock time it stands for, from 08:59 UTC on a Monday."""

    def __init__(self, fps: float = 15.0):
        self.fps, self.seconds = fps, 0.0
        self.start = dt.datetime(2026, 11, 23, 8, 59, tzinfo=dt.UTC)

    def tick(self) -> None:
        self.seconds += 1 / self.fps

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)


class FrameFeed:
    """Frames the loop reads like a camera's, each moving ``clock`` on by one frame."""

    name = "replay:test"

    def __init__(self, frames, clock: FakeClock):
        self.frames, self.clock = list(frames), clock

    def read(self):
        if not self.frames:
            return None
        self.clock.tick()
        return self.frames.pop(0)

    def close(self):
        pass


def make_loop(
    store,
    encoder,
    *,
    open_camera=None,
    recognition=None,
    rules=None,
    display=None,
    kiosk_id="k",
    status=None,
    clock=None,
    monotonic=None,
    retry_max_seconds=10.0,
    liveness="off",
    observer=None,
):
    """The recognition loop built as ``kiosk run`` builds it, on a store and an encoder of the test's.
    Liveness is off unless asked for: most door tests play flat photos as walk-ups."""
    import time

    from kiosk.composition import build_loop
    from kiosk.config import AttendanceSettings, Config, DisplaySettings, LivenessSettings, RecognitionSettings
    from kiosk.status import Status

    recognition, rules = recognition or RecognitionSettings(), rules or AttendanceSettings()
    if isinstance(liveness, str):
        liveness = LivenessSettings(mode=liveness)
    config = Config(recognition=recognition, attendance=rules, display=display or DisplaySettings(), liveness=liveness)
    app = application(store, encoder, recognition, rules, kiosk_id, clock)
    return build_loop(
        config,
        app,
        status if status is not None else Status(),
        open_camera,
        monotonic=monotonic or time.monotonic,
        retry_max_seconds=retry_max_seconds,
        observer=observer,
    )


# ---- the admin pages through Flask's test client -------------------------------------------------


def token_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def login(client, password=PASSWORD):
    token = token_of(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"csrf_token": token, "password": password})


def form_token(client, path="/admin/"):
    return token_of(client.get(path).get_data(as_text=True))


def enroll(client, name, data, filename="face.jpg"):
    return client.post(
        "/admin/enroll",
        data={"csrf_token": form_token(client), "name": name, "photo": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


# ---- a real browser (headless Chromium through Selenium) ------------------------------------------


def chrome(tmp_path, width, height):
    """A headless Chromium of the given window size; skips the test when Selenium or Chromium is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(
            "Chromium and chromedriver are not installed (apt install chromium chromium-driver; scripts/test.sh does it as root)"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
        f"--user-data-dir={tmp_path / f'chromium-{width}'}",
    ):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver), options=options)
    drv.set_page_load_timeout(30)
    return drv


def serve(app, host="127.0.0.1"):
    """The app on a free port in a background thread; the caller shuts it down."""
    from werkzeug.serving import make_server

    srv = make_server(host, 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def wait_for_text(browser, text, seconds=15):
    """Clicks submit forms asynchronously: wait for the next page instead of racing it."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, seconds).until(lambda d: text in d.page_source)


def shot(browser, name):
    """A screenshot in test-output/screenshots/, for a person to look at."""
    folder = TEST_OUTPUT / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(folder / f"{name}.png"))


# ---- hostile image files ----------------------------------------------------------------------------


def png_of(width: int, height: int) -> bytes:
    """A PNG of ``width`` x ``height`` black RGBA pixels, a few hundred KB at most, made without holding the pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row, body = zlib.compressobj(9), b"\0" * (1 + 4 * width), []
    for _ in range(height):
        body.append(packer.compress(row))
    body.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b"")


def ico_around(png: bytes) -> bytes:
    """An icon file whose one entry says 256x256 and holds ``png``, whatever its real size."""
    import struct

    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png


def format_bombs() -> dict[str, bytes]:
    """Small files that decode huge: a 5000x5000 lossless WebP (tens of bytes), a 5000x5000
    group-4 TIFF, a 36-megapixel PNG, and that PNG inside an icon whose header says 256x256."""
    from PIL import Image

    def saved(image, fmt, **kw):
        out = io.BytesIO()
        image.save(out, fmt, **kw)
        return out.getvalue()

    huge = png_of(6000, 6000)  # 144 MB decoded
    return {
        "webp": saved(Image.new("RGB", (5000, 5000), (200, 120, 90)), "WEBP", lossless=True, method=0),
        "tiff": saved(Image.new("1", (5000, 5000)), "TIFF", compression="group4"),
        "ico": ico_around(huge),
        "png": huge,
    }


# ---- a tiny training set for the trainer's smoke runs --------------------------------------------


def make_tiny_data(folder: Path) -> Path:
    """12 'people', each a distinct colour pattern, 4 images each, and a teacher
    that gives every person one direction."""
    from trainer.prepare import FaceCache

    rng = np.random.default_rng(0)
    people, paths, crops = [], [], []
    base = rng.integers(0, 255, (12, 1, 1, 3))
    for p in range(12):
        for i in range(4):
            noise = rng.integers(-20, 20, (32, 32, 3))
            crops.append(np.clip(base[p] + noise + (np.arange(32)[:, None, None] * (p % 3)), 0, 255).astype(np.uint8))
            people.append(f"P{p}")
            paths.append(f"P{p}/P{p}_{i + 1:04d}.jpg")
    FaceCache(np.stack(crops), np.array(paths), np.array(people)).save(folder / "cache.npz")
    directions = rng.normal(size=(12, 128)).astype(np.float32)
    teacher = np.repeat(directions, 4, axis=0) + rng.normal(0, 0.05, (48, 128)).astype(np.float32)
    np.savez(folder / "teacher.npz", paths=np.array(paths), embedding=teacher, embedding_mirrored=teacher)
    (folder / "people.txt").write_text("12\n" + "".join(f"P{p}\t4\n" for p in range(12)))
    return folder


def fit(tiny_data: Path, name: str, **kw) -> Path:
    """``trainer fit`` on ``make_tiny_data``'s set: a small network, a few short epochs; returns the run folder."""
    from trainer.fit import FitConfig, run_fit

    kw.setdefault("epochs", 6)
    kw.setdefault("learning_rate", 1e-2)
    config = FitConfig(
        cache=str(tiny_data / "cache.npz"),
        out=str(tiny_data / name),
        train_people=str(tiny_data / "people.txt"),
        teacher=str(tiny_data / "teacher.npz"),
        width=8,
        batch_size=16,
        steps_per_epoch=6,
        holdout_fraction=0.2,
        **kw,
    )
    return run_fit(config)
