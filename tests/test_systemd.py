import socket

from kiosk.systemd import Notifier


def test_silent_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    n.ready()
    n.watchdog()
    assert n.watchdog_interval is None


def test_sends_ready_watchdog_and_stopping(monkeypatch, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    n = Notifier()
    assert n.watchdog_interval == 15
    n.ready()
    n.watchdog()
    n.stopping()
    assert [sock.recv(100) for _ in range(3)] == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]
    sock.close()
