"""A manager's session in a real browser (headless Chromium via Selenium).
Screenshots of the main pages land in test-output/screenshots/."""

import shutil
import threading

import pytest

from kiosk.config import BUNDLED_MODEL, Config, KioskSettings, RecognitionSettings
from kiosk.loop import Status
from kiosk.cli import build_encoder
from kiosk.recognition import Recognizer
from kiosk.web import Services, create_app, passwords
from tests.conftest import TEST_OUTPUT, lfw_image

PASSWORD = "correct horse battery"


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Chromium and chromedriver are not installed (apt install chromium chromium-driver; scripts/test.sh does it as root)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,900", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver), options=options)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


@pytest.fixture
def server(tmp_path, detector):
    from werkzeug.serving import make_server

    passwords.set_password(tmp_path, PASSWORD)
    encoder = build_encoder(BUNDLED_MODEL)
    status = Status(model_version=encoder.embedder.contract.version, threshold=encoder.embedder.contract.threshold, camera="ok (replay)")
    status.show("welcome", "Welcome, Alice - in at 08:59")
    app = create_app(Config(kiosk=KioskSettings(data_dir=tmp_path)),
                     Services(status, str(tmp_path / "kiosk.db"), encoder, Recognizer(encoder, RecognitionSettings()), capture=lambda: None))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def wait_for(browser, text):
    """Clicks submit forms asynchronously: wait for the next page instead of racing it."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15).until(lambda d: text in d.page_source)


def shot(browser, name):
    folder = TEST_OUTPUT / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(folder / f"{name}.png"))


def test_manager_logs_in_enrolls_sees_and_removes_a_person(lfw, browser, server):
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    assert "Welcome, Alice" in browser.find_element(By.ID, "message").text
    shot(browser, "kiosk-screen")

    browser.get(server + "/admin/")
    assert "/admin/login" in browser.current_url
    browser.find_element(By.NAME, "password").send_keys("not the password")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, "Wrong password")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    shot(browser, "login")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(browser, "Staff (0)")

    form = browser.find_element(By.CSS_SELECTOR, "form[action='/admin/enroll']")
    form.find_element(By.NAME, "name").send_keys("Colin Powell")
    form.find_element(By.NAME, "photo").send_keys(str(lfw_image("Colin_Powell", 2)))
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait_for(browser, "Colin Powell enrolled.")
    assert "Staff (1)" in browser.page_source
    thumbnail = browser.find_element(By.CSS_SELECTOR, ".staff img")
    assert browser.execute_script("return arguments[0].naturalWidth", thumbnail) == 64
    shot(browser, "staff")

    browser.find_element(By.LINK_TEXT, "Colin Powell").click()
    wait_for(browser, "Replace photo")
    shot(browser, "employee")
    browser.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait_for(browser, "Colin Powell removed.")
    assert "No one is enrolled yet." in browser.page_source

    browser.get(server + "/admin/attendance")
    shot(browser, "attendance")
    browser.get(server + "/admin/status")
    assert "Enrolled people" in browser.page_source
    shot(browser, "status")
