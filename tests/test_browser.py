"""The kiosk screen and a manager's session in a real browser (headless
Chromium via Selenium). Screenshots land in test-output/screenshots/."""

import datetime as dt
import random
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from kiosk import attendance
from kiosk.composition import build_encoder
from kiosk.config import (
    BUNDLED_MODEL,
    AttendanceSettings,
    Config,
    DisplaySettings,
    KioskSettings,
    RecognitionSettings,
    WebSettings,
)
from kiosk.status import CameraState, Status
from kiosk.store import Store
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, chrome, enrol_lfw, lfw_image, make_loop, punch, serve, services, shot, wait_for_text
from tests.walkup import EMPTY, on_canvas


@pytest.fixture
def browser(tmp_path):
    drv = chrome(tmp_path, 1280, 800)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def encoder():
    return build_encoder(BUNDLED_MODEL)


class Feed:
    """A camera the test points at things: it repeats the current picture at 15 fps."""

    name = "test camera"

    def __init__(self, frame):
        self.frame, self.stopped = frame, False

    def read(self):
        time.sleep(1 / 15)
        return None if self.stopped else self.frame

    def close(self):
        pass


def non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent; this only picks the outgoing interface
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


@pytest.mark.slow
@pytest.mark.lfw
def test_the_kiosk_screen_at_the_door(lfw, tmp_path, browser, encoder):
    from selenium.webdriver.common.by import By

    store = Store(tmp_path / "kiosk.db")
    enrol_lfw(store, encoder, "Colin_Powell", 1, name="鮑威爾 Colin Powell")
    empty = EMPTY.copy()
    feed = Feed(empty)
    status = Status(model_version=encoder.embedder.contract.version)
    config = Config(
        kiosk=KioskSettings(data_dir=tmp_path), display=DisplaySettings(welcome_seconds=3.0), web=WebSettings(host="0.0.0.0")
    )
    loop = make_loop(
        store,
        encoder,
        open_camera=lambda: feed,
        recognition=RecognitionSettings(),
        rules=AttendanceSettings(),
        display=config.display,
        kiosk_id="door",
        status=status,
    )
    worker = threading.Thread(target=loop.run, daemon=True)
    worker.start()
    srv = serve(create_app(config, services(tmp_path / "kiosk.db", status, encoder)), host="0.0.0.0")
    base = f"http://127.0.0.1:{srv.server_port}"
    try:
        browser.get(base + "/")
        wait_for_text(browser, "Look at the camera")
        time.sleep(1)
        shot(browser, "kiosk-idle")
        preview = browser.find_element(By.CSS_SELECTOR, "#preview img")
        assert browser.execute_script("return arguments[0].naturalWidth", preview) == 320  # the camera picture is there
        clock = browser.find_element(By.ID, "clock").text
        assert len(clock) == 5 and clock[2] == ":" and "M" not in clock  # 24-hour time

        colin = cv2.imread(str(lfw_image("Colin_Powell", 2)))
        # Walking in: too blurred to use, so guidance (a far, fair face would already count towards a welcome).
        feed.frame = on_canvas(cv2.GaussianBlur(colin, (15, 15), 0), 120)
        wait_for_text(browser, "Image is blurred")
        time.sleep(0.5)
        shot(browser, "kiosk-guidance")
        assert "guide face" in browser.find_element(By.ID, "guide").get_attribute("class")

        feed.frame = on_canvas(colin, 190)
        wait_for_text(browser, "Welcome, 鮑威爾 Colin Powell")
        assert "IN at " in browser.find_element(By.ID, "detail").text
        assert "good" in browser.find_element(By.ID, "guide").get_attribute("class")
        shot(browser, "kiosk-welcome")
        feed.frame = empty
        time.sleep(4.5)  # the visit ends, the welcome's time is up

        feed.frame = on_canvas(cv2.imread(str(lfw_image("Hugo_Chavez", 1))), 190)
        wait_for_text(browser, "Not recognised")
        shot(browser, "kiosk-stranger")
        assert status.unknown_faces == 1 and len(store.punch_log()) == 1

        address = non_loopback_address()
        if address:  # from the office network: no camera picture and no names, without logging in
            remote = f"http://{address}:{srv.server_port}"
            with pytest.raises(urllib.error.HTTPError) as denied:
                urllib.request.urlopen(remote + "/preview.mjpg", timeout=5)
            assert denied.value.code == 403
            assert b"Colin" not in urllib.request.urlopen(remote + "/status", timeout=5).read()
            page = urllib.request.urlopen(remote + "/", timeout=5).read()
            assert b"preview.mjpg" not in page
    finally:
        feed.stopped = True
        loop.stop()
        srv.shutdown()


@pytest.mark.slow
@pytest.mark.lfw
@pytest.mark.parametrize("mode", ["passive", "challenge"])
def test_a_photo_held_up_is_refused_on_the_screen_and_shown_to_the_admin(lfw, tmp_path, browser, encoder, mode):
    """A colleague's photo held still before the camera: passive mode refuses it with a
    neutral message (and the admin sees its face on the status page); challenge mode asks
    for a head turn or a blink, which a photo cannot do, and says so when the time is up."""
    from selenium.webdriver.common.by import By

    from kiosk.config import LivenessSettings

    store = Store(tmp_path / "kiosk.db")
    enrol_lfw(store, encoder, "Colin_Powell", 1)
    passwords.set_password(tmp_path, PASSWORD)
    feed = Feed(EMPTY.copy())
    status = Status(model_version=encoder.embedder.contract.version, camera=CameraState("ok (test camera)"))
    liveness = LivenessSettings(mode=mode, challenge_seconds=3.0)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), display=DisplaySettings(welcome_seconds=3.0), liveness=liveness)
    loop = make_loop(
        store, encoder, open_camera=lambda: feed, display=config.display, kiosk_id="door", status=status, liveness=liveness
    )
    worker = threading.Thread(target=loop.run, daemon=True)
    worker.start()
    srv = serve(create_app(config, services(tmp_path / "kiosk.db", status, encoder)))
    base = f"http://127.0.0.1:{srv.server_port}"
    try:
        browser.get(base + "/")
        wait_for_text(browser, "Look at the camera")
        feed.frame = on_canvas(cv2.imread(str(lfw_image("Colin_Powell", 2))), 190)
        if mode == "challenge":
            wait_for_text(browser, " left")  # "N s left": the challenge is on the screen
            title = browser.find_element(By.ID, "title").text
            assert title in ("\u2190 Turn your head to your left", "Turn your head to your right \u2192", "Please blink")
            assert "Colin" not in browser.page_source
            shot(browser, "kiosk-challenge")
            wait_for_text(browser, "Not done in time")
            assert "step back" in browser.find_element(By.ID, "detail").text
            shot(browser, "kiosk-challenge-timed-out")
        else:
            wait_for_text(browser, "Please look at the camera, not a photo")
            assert "Colin" not in browser.page_source
            shot(browser, "kiosk-spoof")
        assert store.punch_log() == []

        browser.get(base + "/admin/login")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for_text(browser, "Staff (1)")
        browser.get(base + "/admin/status")
        if mode == "passive":
            wait_for_text(browser, "1 since the kiosk started (passive check)")
            picture = browser.find_element(By.CSS_SELECTOR, ".spoofs img")
            assert browser.execute_script("return arguments[0].naturalWidth", picture) > 0  # the face, for the admin
            shot(browser, "status-spoofs")
            # Nobody but a logged-in admin gets the picture.
            try:
                with urllib.request.urlopen(picture.get_attribute("src"), timeout=5) as answer:
                    assert answer.headers.get_content_type() != "image/jpeg"  # the login page instead
            except urllib.error.HTTPError as refused:
                assert refused.code in (401, 403)
        else:
            wait_for_text(browser, "0 since the kiosk started (challenge check)")
    finally:
        feed.stopped = True
        loop.stop()
        srv.shutdown()


@pytest.mark.lfw
def test_manager_logs_in_enrolls_sees_and_removes_a_person(lfw, tmp_path, browser, encoder):
    from selenium.webdriver.common.by import By

    passwords.set_password(tmp_path, PASSWORD)
    status = Status(model_version=encoder.embedder.contract.version, camera=CameraState("ok (replay)"))
    app = create_app(
        Config(kiosk=KioskSettings(data_dir=tmp_path)),
        services(tmp_path / "kiosk.db", status, encoder, capture=lambda: None),
    )
    srv = serve(app)
    server = f"http://127.0.0.1:{srv.server_port}"
    try:
        browser.get(server + "/admin/")
        assert "/admin/login" in browser.current_url
        browser.find_element(By.NAME, "password").send_keys("not the password")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for_text(browser, "Wrong password")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        shot(browser, "login")
        browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for_text(browser, "Staff (0)")

        for person, number, name in (
            ("Colin_Powell", 2, "Colin Powell"),
            ("Gerhard_Schroeder", 1, "Gerhard Fritz Kurt Schröder, Bundeskanzler a. D., Hannover Niedersachsen"),
        ):
            form = browser.find_element(By.CSS_SELECTOR, "form[action='/admin/enroll']")
            form.find_element(By.NAME, "name").send_keys(name)
            form.find_element(By.NAME, "photo").send_keys(str(lfw_image(person, number)))
            form.find_element(By.CSS_SELECTOR, "button").click()
            wait_for_text(browser, f"{name} enrolled.")
        thumbnail = browser.find_element(By.CSS_SELECTOR, ".staff img")
        assert browser.execute_script("return arguments[0].naturalWidth", thumbnail) == 256
        # the long name wraps inside its card instead of running out of the grid
        card = browser.find_elements(By.CSS_SELECTOR, ".staff li")[1]
        assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth + 1", card)
        shot(browser, "staff")

        browser.find_element(By.LINK_TEXT, "Colin Powell").click()
        wait_for_text(browser, "Replace photo")
        shot(browser, "employee")
        browser.find_element(By.CSS_SELECTOR, "button.danger").click()
        wait_for_text(browser, "Remove Colin Powell?")
        shot(browser, "remove-confirm")
        browser.find_element(By.CSS_SELECTOR, "button.danger").click()
        wait_for_text(browser, "Colin Powell removed.")
        assert "Staff (1)" in browser.page_source

        browser.get(server + "/admin/status")
        assert "Enrolled people" in browser.page_source
        shot(browser, "status")
    finally:
        srv.shutdown()


STAFF = [
    "Ana Lima",
    "Ben Ode",
    "Chloé Martin",
    "Dariusz Wiśniewski",
    "Emeka Okafor",
    "Fatma Yılmaz",
    "Gustavo Pereira",
    "Hana Suzuki",
    "王小明",
    "Jonas Lindqvist-Bergström",
]


def two_weeks(store):
    """10 people, two weeks of realistic punches (lunch breaks, a night shift, forgotten punches, corrections)."""
    rng = random.Random(7)
    zone = AttendanceSettings(timezone="Europe/Berlin").zone()
    ids = [
        store.add_employee(
            name, image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
        )
        for name in STAFF
    ]
    for person in ids[:6]:
        store.set_expected_start(person, "08:00")
    monday = dt.date(2026, 11, 9)
    for offset in range(12):
        day = monday + dt.timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for i, person in enumerate(ids):
            if rng.random() < 0.08:
                continue  # a day off
            night = i == 9
            start = dt.datetime.combine(day, dt.time(20 if night else 7 + i % 3, rng.randint(0, 25)), tzinfo=zone)
            marks = (
                [start, start + dt.timedelta(hours=7, minutes=rng.randint(0, 50))]
                if night
                else [
                    start,
                    start + dt.timedelta(hours=4),
                    start + dt.timedelta(hours=4, minutes=35),
                    start + dt.timedelta(hours=8, minutes=rng.randint(20, 50)),
                ]
            )
            if rng.random() < 0.07 or (i, day) == (2, dt.date(2026, 11, 18)):
                marks = marks[:-1]  # forgot to punch out
            for mark in marks:
                punch(store, person, mark, day_start=dt.time(4))
    # corrections
    wrong = next(e for e in store.history(ids[1]) if e.at.astimezone(zone).date() == dt.date(2026, 11, 20))
    store.add_correction(
        ids[1],
        "void",
        at=dt.datetime(2026, 11, 20, 9, tzinfo=zone),
        work_day=dt.date(2026, 11, 20),
        author="admin (192.168.1.20)",
        note="punched twice at the door",
        target=wrong.id,
    )
    records = attendance.timesheet(
        store.entries(monday, monday + dt.timedelta(days=13)), monday, monday + dt.timedelta(days=13), zone, dt.time(4)
    )
    forgot = next(r for r in records if r.employee_id == ids[2] and r.day == dt.date(2026, 11, 18))
    out_at = forgot.missing_out[-1] + dt.timedelta(hours=4, minutes=5)
    store.add_correction(
        forgot.employee_id,
        "added",
        at=out_at,
        work_day=forgot.day,
        author="admin (192.168.1.20)",
        note="forgot to punch out",
        direction="out",
    )
    return ids


@pytest.mark.parametrize("width,height,label", [(1280, 800, "laptop"), (390, 844, "phone")])
def test_timesheets_read_well_on_a_laptop_and_a_phone(tmp_path, width, height, label):
    from selenium.webdriver.common.by import By

    passwords.set_password(tmp_path, PASSWORD)
    store = Store(tmp_path / "kiosk.db")
    two_weeks(store)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), attendance=AttendanceSettings(timezone="Europe/Berlin"))
    srv = serve(create_app(config, services(tmp_path / "kiosk.db", Status())))
    server = f"http://127.0.0.1:{srv.server_port}"
    drv = chrome(tmp_path, width, height)
    try:
        drv.get(server + "/admin/login?next=/admin/timesheet")
        drv.find_element(By.NAME, "password").send_keys(PASSWORD)
        drv.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for_text(drv, "Timesheets")
        drv.get(server + "/admin/timesheet?view=day&date=2026-11-18")
        wait_for_text(drv, "Wednesday 2026-11-18")
        assert "forgot to punch out" in drv.page_source and "王小明" in drv.page_source
        # nothing sticks out of the page sideways except inside the scrollable table
        assert drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(drv, f"timesheet-day-{label}")
        drv.get(server + "/admin/timesheet?view=week&date=2026-11-16")
        wait_for_text(drv, "Week of 2026-11-16")
        assert drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(drv, f"timesheet-week-{label}")
        drv.get(server + "/admin/timesheet?view=day&date=2026-11-20")
        wait_for_text(drv, "punched twice at the door")
        shot(drv, f"timesheet-corrections-{label}")
    finally:
        drv.quit()
        srv.shutdown()
