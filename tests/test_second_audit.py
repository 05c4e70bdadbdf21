"""The second audit (issue 24), one test or more per finding, numbered as in
the issue: an attacker on the network, a fault, a careless manager. The
fleet's findings (1, 2, 5) are in tests/test_fleet.py."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from kiosk.config import AttendanceSettings, Config, KioskSettings
from kiosk.names import InvalidName, clean_name
from kiosk.status import Screen, Status
from kiosk.store import Store
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, ROOT, form_token, format_bombs, login, punch, services, token_of
from tests.postgres_server import wait_for


def kiosk(tmp_path, *args, stdin=None, env=None):
    """The ``kiosk`` command as a user runs it, on a data folder of the test's."""
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=env, input=stdin, timeout=120
    )


# -- 13, 14. names: invisible characters, and bytes that are not text ----------------------------------
@pytest.mark.parametrize(
    "name",
    ["Al\u200bice", "Alice\u2060", "\ufeffAlice", "Ali\u00adce", "Alice\U000e0041", "Al\u200dice", "Alice\u200c"],
)
def test_14_invisible_format_characters_are_refused_in_names(name):
    with pytest.raises(InvalidName, match="invisible"):
        clean_name(name)


def test_14_joiners_that_spell_a_name_stay_allowed():
    # Persian and Indic names need the zero-width (non-)joiner between their letters.
    for name in ("\u0645\u06cc\u200c\u0631\u0648\u062f", "\u0915\u094d\u200d\u0937"):
        assert clean_name(name) == name


def test_13_a_name_that_is_not_text_is_refused_naming_the_option(tmp_path):
    with pytest.raises(InvalidName, match="not valid text"):
        clean_name("Bob\udcff")  # what Python makes of the byte 0xff in a UTF-8 command line
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read")
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"kiosk", b"enroll", b"--name", b"Bob\xff", bytes(photo)],
        capture_output=True,
        env=dict(os.environ, KIOSK_DATA_DIR=str(tmp_path / "data"), LC_ALL="C.UTF-8"),
        timeout=120,
    )
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 1 and "--name" in err and "not valid text" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "kiosk.db").exists()


# -- the admin pages through Flask's test client ------------------------------------------------------
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def admin(tmp_path):
    """A logged-in admin's client, the store behind it, one person and one punch of theirs."""
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), attendance=AttendanceSettings(timezone="UTC"))
    client = create_app(config, services(tmp_path / "kiosk.db", Status()), {"TESTING": True}).test_client()
    assert login(client).status_code == 302
    store = Store(tmp_path / "kiosk.db")
    ann = store.add_employee(
        "Ann", image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
    )
    return client, store, ann, punch(store, ann, T0)


DAY = "/admin/timesheet?view=day&date=2026-03-02"


def correction(client, path, **fields):
    return client.post(path, data={"csrf_token": form_token(client, DAY), "back": DAY, **fields})


# -- 2. control characters in free text -------------------------------------------------------------------
@pytest.mark.parametrize("text", ["wrong person\x00", "wrong\nperson", "wrong\x1b[2Jperson", "wrong \u202eperson"])
def test_2_control_characters_are_refused_in_reasons_and_authors(admin, text):
    client, store, ann, entry = admin
    before = len(store.punch_log())
    void = correction(client, "/admin/corrections/void", entry=entry.id, note=text)
    added = correction(client, "/admin/corrections/add", employee=ann, day="2026-03-02", time="17:00", direction="out", note=text)
    assert void.status_code == added.status_code == 302 and len(store.punch_log()) == before
    assert "control characters" in client.get(DAY).get_data(as_text=True)
    for field in ("note", "author"):
        with pytest.raises(ValueError, match="control characters"):
            store.add_correction(
                ann, "void", at=T0, work_day=T0.date(), target=entry.id, **{"note": "x", "author": "admin", field: text}
            )
    assert len(store.punch_log()) == before


def test_2_control_characters_are_refused_in_hours(admin):
    client, store, ann, _ = admin
    with pytest.raises(ValueError):
        store.set_expected_start(ann, "08:30\n")
    page = client.post(
        f"/admin/employees/{ann}/hours",
        data={"csrf_token": form_token(client, f"/admin/employees/{ann}"), "expected_start": "08:30\n"},
        follow_redirects=True,
    )
    assert page.status_code == 200 and b"Use a time such as 08:30" in page.data
    assert store.get_employee(ann).expected_start is None


# -- 11. routes that answered 500 ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/admin/employees/99999999999999999999",
        "/admin/employees/99999999999999999999/photo.png",
        "/admin/attendance?employee=%C2%B2",
        "/admin/timesheet?view=range&employee=%C2%B2",
        "/admin/attendance.csv?employee=" + "9" * 5000,
        "/admin/timesheet?view=range&employee=" + "9" * 5000,
        "/admin/timesheet?date=9999-12-31",
        "/admin/timesheet?date=0001-01-01",
        "/admin/timesheet?view=week&date=9999-12-31",
        "/admin/timesheet?view=week&date=0001-01-01",
        "/admin/attendance?from=0001-01-01&to=0001-01-02",
        "/admin/timesheet.csv?from=9999-12-30&to=9999-12-31",
        "/admin/login?next=/admin/%0D%0ASet-Cookie:x=1",
    ],
)
def test_11_hostile_addresses_are_a_400_with_a_message(admin, path):
    client, *_ = admin
    response = client.get(path)
    assert response.status_code == 400, path
    assert b"Bad request" in response.data and (b"must" in response.data or b"is not" in response.data)


def test_11_hostile_forms_are_a_400_with_a_message_and_record_nothing(admin, tmp_path):
    client, store, ann, entry = admin
    before = len(store.punch_log())
    for path, fields in [
        ("/admin/corrections/void", {"entry": "9" * 30, "note": "x"}),
        ("/admin/corrections/direction", {"entry": "9" * 30, "note": "x", "direction": "in"}),
        ("/admin/corrections/add", {"employee": ann, "day": "0001-01-01", "time": "00:10", "direction": "in", "note": "x"}),
        ("/admin/corrections/add", {"employee": ann, "day": "9999-12-31", "time": "23:50", "direction": "in", "note": "x"}),
        ("/admin/corrections/void", {"entry": entry.id, "note": "x", "back": "/admin/\r\nSet-Cookie: x=1"}),
    ]:
        response = correction(client, path, **fields)
        assert response.status_code == 400, (path, fields)
        assert b"Bad request" in response.data
    assert len(store.punch_log()) == before
    token = form_token(client, "/admin/login")
    client.post("/admin/logout", data={"csrf_token": form_token(client, DAY)})
    login_page = client.post("/admin/login?next=/admin/%0D%0ALocation:x", data={"csrf_token": token, "password": PASSWORD})
    assert login_page.status_code == 400


# -- 6. upload formats: JPEG and PNG only, their size checked before decoding ---------------------------
def test_6_only_jpeg_and_png_are_opened_and_bombs_are_refused_before_decoding(tmp_path):
    import io

    from PIL import Image

    from kiosk.enrollment import EnrollmentError, decode_photo

    def saved(image, fmt, **kw):
        out = io.BytesIO()
        image.save(out, fmt, **kw)
        return out.getvalue()

    made = format_bombs()
    needles = {"webp": "WebP", "tiff": "TIFF", "ico": "icon", "png": "too large"}
    bombs = {name: (made[name], needle) for name, needle in needles.items()}
    for name, (data, needle) in bombs.items():
        assert len(data) < 400_000, name  # small files all
        (tmp_path / name).write_bytes(data)
        with pytest.raises(EnrollmentError, match=needle):
            decode_photo(data)
    with pytest.raises(EnrollmentError, match="JPEG or PNG"):
        decode_photo(bombs["webp"][0])
    # Memory: a fresh process decoding every one of them grows by far less than any of them would take decoded.
    code = (
        "import resource, sys; from pathlib import Path; from kiosk.enrollment import decode_photo, EnrollmentError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for p in sys.argv[1:]:\n"
        "    try: decode_photo(Path(p).read_bytes())\n"
        "    except EnrollmentError: pass\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    paths = [str(tmp_path / name) for name in bombs]
    grown = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=120)
    assert grown.returncode == 0, grown.stderr
    assert int(grown.stdout) < 50, f"decoding the refused files took {grown.stdout.strip()} MB"
    # What people upload still opens.
    assert decode_photo(saved(Image.new("RGB", (64, 48)), "JPEG")).shape == (48, 64, 3)
    assert decode_photo(saved(Image.new("RGBA", (64, 48)), "PNG")).shape == (48, 64, 3)


# -- 12. the command line: no tracebacks ----------------------------------------------------------------
def spider_file() -> bytes:
    """A SPIDER header Pillow accepts as one, with an infinite stack count (int() of it raised OverflowError)."""
    import struct

    h = [0.0] * 28  # Fortran's indices, from 1
    h[1], h[2], h[5], h[12], h[13], h[22], h[23], h[24] = 1, 10, 1, 10, 1, 108, 108, float("inf")
    return struct.pack(">27f", *h[1:]).ljust(600, b"\0")


def test_12_identify_goes_on_past_files_that_are_not_photos(tmp_path):
    Store(tmp_path / "data" / "kiosk.db").close()
    (tmp_path / "a.spi").write_bytes(spider_file())
    (tmp_path / "b.im").write_bytes(b"Image type: RGB image\r\nImage size (x*y): 99999*99999\r\n\x1a".ljust(512, b"\0"))
    (tmp_path / "c.jpg").write_bytes(b"\xff\xd8\xff\xe0 and then nothing")
    result = kiosk(tmp_path, "identify", *(str(tmp_path / n) for n in ("a.spi", "b.im", "c.jpg")))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert [line["photo"].rsplit("/", 1)[1] for line in lines] == ["a.spi", "b.im", "c.jpg"]
    assert all("error" in line for line in lines)


def test_12_an_id_too_large_for_the_database_is_refused_by_the_command_line(tmp_path):
    Store(tmp_path / "data" / "kiosk.db").close()
    result = kiosk(tmp_path, "remove", "99999999999999999999")
    assert result.returncode == 2 and "not an employee's number" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("digits", [300, 5000])
def test_12_a_huge_number_in_the_config_is_named_not_repeated(tmp_path, digits):
    config = tmp_path / "kiosk.toml"
    config.write_text(f"[camera]\nfps = 1{'0' * digits}\n")
    result = kiosk(tmp_path, "-c", str(config), "check-config")
    assert result.returncode == 2 and str(config) in result.stderr and "Traceback" not in result.stderr
    assert "0" * 100 not in result.stderr and (digits > 4300 or "camera.fps" in result.stderr)


# -- 13. a data folder that is a file ------------------------------------------------------------------
def test_13_check_config_refuses_a_data_dir_that_is_a_file_as_run_does(tmp_path):
    data = tmp_path / "data"
    data.write_text("not a folder")
    config = tmp_path / "kiosk.toml"
    config.write_text(f"[kiosk]\ndata_dir = '{data}'\n[camera]\nsource = 'none'\n[web]\nport = 1\n")
    checked = kiosk(tmp_path, "-c", str(config), "check-config")
    ran = kiosk(tmp_path, "-c", str(config), "run")
    for result in (checked, ran):
        assert result.returncode != 0 and f"{data}: is a file, not a folder" in result.stderr, result.stderr
        assert "Errno" not in result.stderr and "Traceback" not in result.stderr
    assert checked.returncode == 2 and "kiosk.data_dir" in checked.stderr


# -- 15. files of the data folder that belong to another user ---------------------------------------------
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to own files as another user")
# The kiosk's user facing files another user made, mirrored: a root process without the
# capabilities that let root read anything, facing files that belong to 'nobody'.
AS_ANOTHER_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def owned_by_nobody(*paths):
    import shutil

    for path in paths:
        shutil.chown(path, "nobody")


@needs_root
def test_15_set_password_as_root_on_another_users_data_folder_says_whose_it_is(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    owned_by_nobody(data)
    result = kiosk(tmp_path, "admin", "set-password", "--password-stdin", stdin="a long enough secret\n")
    assert result.returncode == 1 and "belongs to nobody" in result.stderr and "sudo -u nobody" in result.stderr
    assert not (data / "admin_password").exists()


def run_as_another_user(code: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*AS_ANOTHER_USER, sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


@needs_root
def test_15_a_password_file_the_kiosk_cannot_read_is_named_with_its_owner_not_a_500(tmp_path):
    passwords.set_password(tmp_path, PASSWORD)
    passwords.secret_key(tmp_path)
    owned_by_nobody(tmp_path / "admin_password", tmp_path / "session_epoch")
    code = (
        "import sys; from pathlib import Path\n"
        "from kiosk.config import Config, KioskSettings; from kiosk.web import create_app\n"
        "from tests.helpers import login, services\n"
        "data = Path(sys.argv[1])\n"
        "app = create_app(Config(kiosk=KioskSettings(data_dir=data)), services(data / 'kiosk.db'))\n"
        "response = login(app.test_client())\n"
        "print(response.status_code); print(response.get_data(as_text=True))\n"
    )
    result = run_as_another_user(code, str(tmp_path))
    status, _, page = result.stdout.partition("\n")
    assert status == "503", result.stdout + result.stderr
    assert f"{tmp_path / 'admin_password'}" in page and "belongs to nobody" in page and "chown" in page


@needs_root
def test_15_a_database_file_the_kiosk_cannot_write_is_named_with_its_owner_not_damage(tmp_path):
    Store(tmp_path / "kiosk.db").close()
    (tmp_path / "kiosk.db-shm").write_bytes(b"")
    owned_by_nobody(tmp_path / "kiosk.db", tmp_path / "kiosk.db-shm")
    os.chmod(tmp_path / "kiosk.db", 0o600)
    os.chmod(tmp_path / "kiosk.db-shm", 0o600)
    code = "import sys; from kiosk.store import Store\ntry: Store(sys.argv[1])\nexcept Exception as exc: print(exc)\n"
    result = run_as_another_user(code, str(tmp_path / "kiosk.db"))
    assert "belongs to nobody" in result.stdout and "chown" in result.stdout, result.stdout + result.stderr
    assert "restore a backup" not in result.stdout


# -- 16. caches and plain HTTP on the network ------------------------------------------------------------
def test_16_admin_pages_and_csv_files_are_not_kept_in_caches(admin):
    client, *_ = admin
    for path in ("/admin/", DAY, "/admin/attendance.csv", "/admin/timesheet.csv", "/admin/status", "/admin/login"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers.get("Cache-Control") == "no-store", path
    assert client.get("/status").headers.get("Cache-Control") == "no-store"  # it names people to the display


@pytest.mark.parametrize(
    "web,warned",
    [
        ({"host": "0.0.0.0"}, True),
        ({"host": "::"}, True),
        ({"host": "192.168.1.20"}, True),
        ({"host": "127.0.0.1"}, False),
        ({"host": "localhost"}, False),
        ({"host": "0.0.0.0", "tls_cert": "/c.pem", "tls_key": "/k.pem"}, False),
    ],
)
def test_16_serving_plain_http_to_the_network_warns_at_start(monkeypatch, caplog, web, warned):
    from kiosk import cli, composition
    from kiosk.config import WebSettings

    monkeypatch.setattr(composition, "serve", lambda config, admin_server=False: 0)
    config = Config(web=WebSettings(**web))
    with caplog.at_level("WARNING"):
        assert cli.cmd_run(cli.build_parser().parse_args(["run", "--source", "none"]), config) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert bool(warnings) == warned, warnings
    if warned:
        assert "without TLS" in warnings[0] and "tls_cert" in warnings[0] and web["host"] in warnings[0]


# -- 3. behind a reverse proxy -------------------------------------------------------------------------
WELCOME = Screen("welcome", "Welcome, Alice", "IN at 08:59", public_title="Welcome")


def proxied_app(tmp_path, **web):
    from kiosk.config import WebSettings

    passwords.set_password(tmp_path, PASSWORD)
    status = Status(model_version="v1")
    status.show(WELCOME)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), web=WebSettings(**web))
    return create_app(config, services(tmp_path / "kiosk.db", status), {"TESTING": True, "SSE_ONCE": True}).test_client()


def via(peer: str, forwarded_for: str | None = None) -> dict:
    """Request options: from the TCP peer ``peer``, with ``X-Forwarded-For`` when given."""
    return {"environ_base": {"REMOTE_ADDR": peer}, "headers": {"X-Forwarded-For": forwarded_for} if forwarded_for else {}}


def wrong_logins(client, times, **request) -> list[int]:
    codes = []
    for _ in range(times):
        token = token_of(client.get("/admin/login", **request).get_data(as_text=True))
        codes.append(client.post("/admin/login", data={"csrf_token": token, "password": "wrong!"}, **request).status_code)
    return codes


@pytest.mark.parametrize(
    "value,needle",
    [
        (["nginx.example"], "web.trusted_proxies: 'nginx.example' is not an address or network"),
        (["10.0.0.0/33"], "web.trusted_proxies: '10.0.0.0/33'"),
        ([5], "web.trusted_proxies: expected a list of addresses"),
        ("127.0.0.1", "web.trusted_proxies: expected a list of addresses"),
    ],
)
def test_3_trusted_proxies_are_checked_when_the_config_loads(value, needle):
    from kiosk.config import ConfigError, config_from_dict

    assert config_from_dict({}).web.trusted_proxies == []
    with pytest.raises(ConfigError, match=needle):
        config_from_dict({"web": {"trusted_proxies": value}}, "kiosk.toml")


def test_3_behind_a_trusted_proxy_the_client_decides_not_the_proxy(tmp_path):
    client = proxied_app(tmp_path, trusted_proxies=["127.0.0.1", "::1"])
    # Through nginx on this machine: nobody from the network is the kiosk's display.
    assert b"Alice" not in client.get("/status", **via("127.0.0.1", "10.0.0.66")).data
    assert client.get("/preview.mjpg", **via("127.0.0.1", "10.0.0.66")).status_code == 403
    assert b"Alice" not in client.get("/", **via("::1", "10.0.0.66")).data
    # The login limit counts each client, not the proxy: one guesser does not lock out the office.
    assert wrong_logins(client, 6, **via("127.0.0.1", "10.0.0.66")) == [401] * 5 + [429]
    assert wrong_logins(client, 1, **via("127.0.0.1", "10.0.0.67")) == [401]
    # The display itself, on this machine without a proxy, still sees names.
    assert b"Alice" in client.get("/status", **via("127.0.0.1")).data


def test_3_forwarding_headers_from_an_untrusted_address_change_nothing(tmp_path):
    client = proxied_app(tmp_path, trusted_proxies=["127.0.0.1"])
    # Someone on the network claiming to be the display, or a different client each time.
    assert b"Alice" not in client.get("/status", **via("10.0.0.9", "127.0.0.1")).data
    codes = [wrong_logins(client, 1, **via("10.0.0.9", f"10.1.0.{i}"))[0] for i in range(6)]
    assert codes == [401] * 5 + [429]
    # Without trusted proxies, a proxy on this machine is still not the display (it forwards).
    plain = proxied_app(tmp_path / "plain")
    assert b"Alice" not in plain.get("/status", **via("127.0.0.1", "10.0.0.66")).data


def test_3_ipv4_mapped_loopback_is_loopback(tmp_path):
    client = proxied_app(tmp_path)
    assert b"Alice" in client.get("/status", **via("::ffff:127.0.0.1")).data  # the display, with host = "::"
    assert client.get("/preview.mjpg", **via("::ffff:127.0.0.1")).status_code != 403
    assert b"Alice" not in client.get("/status", **via("::ffff:10.0.0.66")).data
    # One client is one client, however its address is written.
    assert wrong_logins(client, 3, **via("::ffff:10.0.0.66")) + wrong_logins(client, 3, **via("10.0.0.66")) == [401] * 5 + [429]


# -- 10. a stuck log -------------------------------------------------------------------------------------
class StuckStream(io.TextIOBase):
    """stderr as a pipe nobody reads: every write waits until ``gate`` opens."""

    def __init__(self):
        self.gate, self.written = threading.Event(), []

    def write(self, text):
        self.gate.wait()
        self.written.append(text)
        return len(text)

    def flush(self):
        self.gate.wait()


def test_10_a_log_that_blocks_forever_does_not_block_the_caller(monkeypatch):
    import logging

    from kiosk import cli
    from kiosk.logs import start_logging

    stuck = StuckStream()
    monkeypatch.setattr(sys, "stderr", stuck)
    monkeypatch.setattr(logging.root, "handlers", [])  # as in the service: pytest's capture out of the way
    monkeypatch.setattr(logging.root, "level", logging.WARNING)
    returned = []

    def run():
        # A config error is logged and main returns, however long stderr takes.
        returned.append(cli.main(["-c", "/nonexistent/kiosk.toml", "check-config"]))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=10)
    try:
        assert returned == [2], "main waited for a stuck stderr"
        # While it is stuck, a running kiosk's logging returns at once, and the access log stays out of INFO.
        logs = start_logging(logging.INFO)
        try:
            started = time.monotonic()
            for frame in range(2000):
                logging.getLogger("kiosk").info("frame %d", frame)
            assert time.monotonic() - started < 1.0
            assert not logging.getLogger("werkzeug").isEnabledFor(logging.INFO)
            for frame in range(logs.LIMIT):  # beyond what the queue holds: dropped, and counted
                logging.getLogger("kiosk").info("more %d", frame)
            stuck.gate.set()
            assert wait_for(logs.queue.empty, 10)
            logging.getLogger("kiosk").warning("moving again")
        finally:
            stuck.gate.set()
            logs.stop()
    finally:
        stuck.gate.set()
    assert any("config file not found" in text for text in stuck.written)  # nothing lost once it moves again
    assert any("frame 1999" in text for text in stuck.written)
    assert any(re.search(r"\b\d{4} log records were dropped", text) for text in stuck.written)
    assert "moving again" in stuck.written[-1]


# -- 5. a door of a fleet leaves corrections to the admin server -------------------------------------------
def test_5_a_doors_page_refuses_corrections_and_says_where_they_are_made(tmp_path):
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), attendance=AttendanceSettings(timezone="UTC"))
    door = services(tmp_path / "kiosk.db", Status(), staff_managed_here=False)  # as 'kiosk run' in a fleet
    client = create_app(config, door, {"TESTING": True}).test_client()
    assert login(client).status_code == 302
    store = Store(tmp_path / "kiosk.db")
    ann = store.add_employee(
        "Ann", image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v"
    )
    entry = punch(store, ann, T0)
    for path, fields in [
        ("/admin/corrections/void", {"entry": entry.id, "note": "wrong person"}),
        ("/admin/corrections/direction", {"entry": entry.id, "note": "was out", "direction": "out"}),
        ("/admin/corrections/add", {"employee": ann, "day": "2026-03-02", "time": "17:00", "direction": "out", "note": "x"}),
    ]:
        response = correction(client, path, **fields)
        assert response.status_code == 403 and b"fleet&#39;s admin server" in response.data, path
    assert len(store.punch_log()) == 1


# -- 1, 2. what the sync reports reaches the status page ---------------------------------------------------
def test_1_and_2_the_status_page_shows_entries_set_aside_and_a_jump_in_punch_numbers(tmp_path):
    passwords.set_password(tmp_path, PASSWORD)
    sync = {
        "state": "connected",
        "backlog": 0,
        "last_sync": "2026-11-23T08:00:00+00:00",
        "offline_since": None,
        "problem": None,
        "gallery_revision": 3,
        "set_aside": 2,
        "set_aside_reason": "PostgreSQL text fields cannot contain NUL (0x00) bytes",
        "punch_gap": "2026-11-23T08:00:00+00:00: punch numbers jump from 1 to 1000000000: every punch was read again",
    }
    config = Config(kiosk=KioskSettings(data_dir=tmp_path))
    client = create_app(config, services(tmp_path / "kiosk.db", Status(), sync=lambda: sync), {"TESTING": True}).test_client()
    assert login(client).status_code == 302
    page = client.get("/admin/status").get_data(as_text=True)
    assert "2 refused by the fleet database" in page and "cannot contain NUL" in page
    assert "jump from 1 to 1000000000" in page
    assert client.get("/status").get_json()["fleet"]["set_aside"] == 2
