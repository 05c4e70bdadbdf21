"""sd_notify readiness and watchdog; silent no-ops outside systemd."""

from __future__ import annotations

import os

import sdnotify


class Notifier:
    def __init__(self):
        self._enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._sd = sdnotify.SystemdNotifier() if self._enabled else None
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self.watchdog_interval = usec / 2e6 if usec else None  # ping at half the timeout

    def _send(self, message: str) -> None:
        if self._sd is not None:
            self._sd.notify(message)

    def ready(self) -> None:
        self._send("READY=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")
