"""The second audit (issue 24), finding 4: half-open connections. The kiosk
is served as ``kiosk run`` serves it (composition._start: waitress, or the
hardened werkzeug server for TLS) on loopback, and attacked with real
sockets that send half a request line and stay open; streams are capped per
client with slots kept for the kiosk's own display; the kiosk page
reconnects its event stream by itself."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from kiosk.composition import _start
from kiosk.config import CameraSettings, Config, ConfigError, DisplaySettings, KioskSettings, WebSettings, config_from_dict
from kiosk.status import Screen, Status
from kiosk.web import create_app
from kiosk.web.serving import make_web_server
from tests.helpers import chrome, services, wait_for_text

HALF = b"GET / HTTP/1.1\r\nHo"  # half a request, never finished


class NoLoop:
    def run(self):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_kiosk(tmp_path, status=None, **web):
    config = Config(
        kiosk=KioskSettings(data_dir=tmp_path),
        camera=CameraSettings(source="none"),
        web=WebSettings(port=free_port(), **web),
    )
    running = _start(config, services(tmp_path / "kiosk.db", status), NoLoop(), None)
    return config, running


def half_open(port: int, count: int) -> list[socket.socket]:
    opened = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(HALF)
        opened.append(s)
    return opened


def timed_get(port: int, path: str, headers: dict | None = None, context=None) -> tuple[int, bytes, float]:
    started = time.monotonic()
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        conn.close()


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_4_half_open_connections_hold_no_thread_and_the_next_request_is_answered_at_once(tmp_path):
    status = Status()
    status.last_recognitions.appendleft({"employee_id": 1, "name": "Alice", "direction": "in", "at": "2026-11-23T08:59:00"})
    config, running = serve_kiosk(tmp_path, status, connection_limit=64, channel_timeout_seconds=2)
    port = config.web.port
    threads, files = threading.active_count(), open_files()
    attackers: list[socket.socket] = []
    try:
        attackers = half_open(port, 300)  # far beyond the connection limit
        code, _, took = timed_get(port, "/healthz")
        assert code == 200 and took < 2.0, f"answered {code} after {took:.1f} s"
        assert threading.active_count() <= threads + 1  # the half-open cost no thread
        server_side = open_files() - files - len(attackers)
        assert server_side <= 64 + 10, f"{server_side} descriptors for 300 half-open connections"
        # A silent connection is closed after the channel time-out (or sooner, to make room).
        attackers[-1].settimeout(8)
        assert attackers[-1].recv(1) == b""

        # Forwarding headers reach the app: a proxy on this machine is not the kiosk's own display.
        assert b"Alice" in timed_get(port, "/status")[1]
        assert b"Alice" not in timed_get(port, "/status", {"X-Forwarded-For": "203.0.113.9"})[1]
    finally:
        for s in attackers:
            s.close()
        running.server.shutdown()
        running.web.join(timeout=10)
    assert not running.web.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def make_certificate(folder):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (it makes the test's self-signed certificate)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_4_with_tls_a_silent_client_holds_up_nobody_and_connections_are_capped(tmp_path):
    cert, key = make_certificate(tmp_path)
    config, running = serve_kiosk(tmp_path, tls_cert=cert, tls_key=key, connection_limit=40, channel_timeout_seconds=2)
    port = config.web.port
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False
    threads = threading.active_count()
    attackers: list[socket.socket] = []
    try:
        attackers = half_open(port, 30)  # TCP only: no TLS handshake, ever
        code, _, took = timed_get(port, "/healthz", context=client)
        assert code == 200 and took < 2.0, f"answered {code} after {took:.1f} s"
        attackers += half_open(port, 100)
        time.sleep(0.5)
        assert threading.active_count() <= threads + 40 + 2  # one thread per connection, capped
        time.sleep(3)  # past the socket time-out: the silent ones are gone
        code, _, took = timed_get(port, "/healthz", context=client)
        assert code == 200 and took < 2.0
    finally:
        for s in attackers:
            s.close()
        running.server.shutdown()
        running.web.join(timeout=10)


def test_4_streams_are_capped_per_client_and_the_kiosk_display_keeps_its_slots(tmp_path):
    web = WebSettings(max_event_streams=4, reserved_streams=2, streams_per_client=2)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), web=web)
    status = Status()
    status.preview.publish(b"\xff\xd8fake-jpeg\xff\xd9")
    app = create_app(config, services(tmp_path / "kiosk.db", status), {"TESTING": True})
    client = app.test_client()

    def stream(address, path="/events"):
        return client.get(path, environ_base={"REMOTE_ADDR": address}, buffered=False)

    held = [stream("10.0.0.2"), stream("10.0.0.2")]
    assert [r.status_code for r in held] == [200, 200]
    assert stream("10.0.0.2").status_code == 503  # a third from one address
    held += [stream("10.0.0.1"), stream("10.0.0.1")]
    assert [r.status_code for r in held] == [200] * 4
    assert stream("10.0.0.3").status_code == 503  # everyone's slots are taken ...
    display = [stream("127.0.0.1"), stream("127.0.0.1", "/preview.mjpg")]
    assert [r.status_code for r in display] == [200, 200]  # ... but the kiosk's own screen still gets its two
    assert stream("127.0.0.1").status_code == 503
    # Streams end last first: each pushed its request context onto this one thread.
    for response in reversed(display):
        response.close()
    held.pop().close()  # a stream that ends gives its slot back
    held.append(stream("10.0.0.3"))
    assert held[-1].status_code == 200
    for response in reversed(held):
        response.close()

    assert web.threads == 4 + 2 + 4  # a thread per stream allowed, and the request threads
    server = make_web_server(app, web)
    try:
        assert len(server.dispatcher.threads) == web.threads
    finally:
        server.shutdown()
    with pytest.raises(ConfigError, match="web.connection_limit .* must exceed"):
        config_from_dict({"web": {"connection_limit": 10}})


@pytest.mark.slow
def test_4_the_kiosk_page_reconnects_by_itself_and_clears_a_stale_welcome(tmp_path):
    status = Status()
    status.show(Screen("welcome", "Welcome, Bob", "IN at 08:59"))
    web = WebSettings(port=free_port(), max_event_streams=1, reserved_streams=0)
    # No camera picture: it is a stream too, and would race the events for the only slot once it comes free.
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), web=web, display=DisplaySettings(preview=False))
    app = create_app(config, services(tmp_path / "kiosk.db", status))
    server = make_web_server(app, web)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    taken = app.extensions["stream_slots"].acquire("192.0.2.1")  # someone elsewhere holds the only stream: 503
    browser = chrome(tmp_path, 800, 600)
    try:
        browser.get(f"http://127.0.0.1:{web.port}/")
        wait_for_text(browser, "Reconnecting", seconds=10)
        assert "Welcome, Bob" not in browser.page_source  # never the stale welcome while cut off
        taken()  # the slot comes free; the page finds it by itself
        status.show(Screen("idle", "Look at the camera"))
        # The page's pause between tries doubles up to 30 s (jittered by a quarter): on a slow machine it may
        # be well on its way there by now, so wait past the longest pause rather than a guess.
        wait_for_text(browser, "Look at the camera", seconds=40)
        status.show(Screen("welcome", "Welcome, Carol", "IN at 09:01"))
        wait_for_text(browser, "Welcome, Carol", seconds=5)
    finally:
        browser.quit()
        server.shutdown()
