"""Webhooks: each event of the queue (kiosk.webhook_queue) POSTed as signed
JSON to every ``[webhooks] urls``, by a daemon thread of its own, so the loop
never waits on a receiver. The bodies, signatures and back-off are the pure
rules of kiosk.webhook_rules.

Every URL gets every event once, in order: an event that fails is tried
again, with back-off, until it is delivered or ``keep_hours`` old (then it is
given up with a WARNING and the next one goes). A crash between a receiver's
answer and the queue's note of it sends that event again, with the same id.
The loop's spoofs and the camera's outages are queued from this thread, so the
loop never writes to the database for them either.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from kiosk.config import ConfigError
from kiosk.loop_observer import SPOOF as SPOOF_DECISION
from kiosk.loop_observer import NoObserver
from kiosk.webhook_queue import QueuedEvent, WebhookQueue
from kiosk.webhook_rules import (
    CAMERA_DOWN,
    CAMERA_UP,
    ENTRY_KINDS,
    SPOOF,
    backoff_seconds,
    encode,
    event_body,
    iso_time,
    request_headers,
)

log = logging.getLogger("kiosk.webhooks")

# Events sent to one URL before the others get their turn.
BATCH = 50
# A receiver's answer is read this far, then dropped (only its status counts).
ANSWER_BYTES = 64 * 1024


def read_secret(path) -> bytes:
    """The signing key: the one line of ``[webhooks] secret_file``; a ConfigError naming the file and the fix."""

    def problem(what: str) -> ConfigError:
        return ConfigError(
            f"webhooks.secret_file: {path} {what}; put the signing key on one line in it, for example with "
            f"'openssl rand -hex 32 > {path}; chmod 600 {path}', and give the receivers the same key"
        )

    if path is None:
        raise problem("is not set")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise problem("does not exist") from None
    except IsADirectoryError:
        raise problem("is a folder, not a file") from None
    except PermissionError:
        raise problem("cannot be read by this user (check its owner and permissions)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise problem(f"cannot be read ({exc})") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise problem("is empty")
    if len(lines) > 1:
        raise problem(f"holds {len(lines)} lines, not one")
    return lines[0].encode("utf-8")


@dataclass(frozen=True)
class Timing:
    """The sender's clocks and waits (the tests make them short)."""

    first_retry_seconds: float = 1.0
    poll_seconds: float = 1.0  # the camera is looked at, and due retries noticed, at least this often
    camera_down_seconds: float = 30.0  # an outage this long is told (once); a shorter blink is not
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random


@dataclass
class _Target:
    url: str
    where: str  # for the log: the URL's number and host, never its path (a path can hold a secret)
    failures: int = 0
    due: float = 0.0  # monotonic
    last_problem: str = field(default="", repr=False)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body: a redirect is an answer that failed.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookSender:
    """The delivery thread, and a loop observer (it counts spoofs); ``start``, then ``stop`` on shutdown."""

    def __init__(self, queue: WebhookQueue, settings, secret: bytes, kiosk_id: str, status=None, timing: Timing | None = None):
        self.queue, self.settings, self.secret, self.kiosk_id = queue, settings, secret, kiosk_id
        self.status, self.timing = status, timing or Timing()
        hosts = [urlsplit(url) for url in settings.urls]
        self.targets = [
            _Target(url, f"#{n} ({p.scheme}://{p.hostname}{f':{p.port}' if p.port else ''})")
            for n, (url, p) in enumerate(zip(settings.urls, hosts, strict=True), 1)
        ]
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._spoofs: deque[float] = deque(maxlen=1000)  # noticed by the loop, queued by this thread
        self._outage: tuple[float, float] | None = None  # the outage told: its monotonic and Unix start
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._problem = ""  # the queue's last error, said once

    # -- the loop observer's side: returns at once ----------------------------------------------------
    def frame(self, seconds_by_stage) -> None:
        pass

    def decision(self, kind: str) -> None:
        if kind == SPOOF_DECISION:
            self._spoofs.append(self.timing.clock())
            self._wake.set()

    # -- the thread ---------------------------------------------------------------------------------------
    def start(self) -> WebhookSender:
        self._thread = threading.Thread(target=self.run, name="webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the try in progress; spoofs noticed but not yet queued are queued first."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.timeout_seconds + 2 if timeout is None else timeout)

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self.step()
                self._wake.wait(self._sleep_seconds())
            self._keep_noticed()
        except Exception:  # the door goes on without webhooks rather than stop
            log.exception("webhooks stopped")
        finally:
            self.queue.store.release()

    def step(self) -> None:
        """One round: queue what was noticed, then send what is due to each URL."""
        try:
            self._keep_noticed()
            self._watch_camera()
            for target in self.targets:
                if self._stop.is_set():
                    return
                if target.due <= self.timing.monotonic() and self._send_due(target):
                    self._wake.set()  # more than a batch waits: no pause before the next
            self._problem = ""
        except Exception as exc:  # a busy or full database: try again next round (said once, not every round)
            level = logging.DEBUG if str(exc) == self._problem else logging.WARNING
            log.log(level, "webhooks: could not use the queue (%s); trying again", exc)
            self._problem = str(exc)

    def _sleep_seconds(self) -> float:
        now = self.timing.monotonic()
        due = [t.due - now for t in self.targets if t.due > now]
        return max(0.0, min([self.timing.poll_seconds, *due]))

    # -- what the thread queues ----------------------------------------------------------------------
    def _keep_noticed(self) -> None:
        while self._spoofs:
            at = self._spoofs[0]
            self.queue.add(SPOOF, {"occurred_at": iso_time(at)}, at)
            self._spoofs.popleft()  # only once it is in the database

    def _watch_camera(self) -> None:
        """``camera_down`` once an outage has lasted ``camera_down_seconds``; ``camera_up`` when that one ends."""
        if self.status is None:
            return
        camera, now = self.status.camera, self.timing.monotonic()
        down = camera.down_since
        if self._outage is not None and down != self._outage[0]:
            started = self._outage[1]
            self._outage = None
            ended = self.timing.clock()
            data = {"occurred_at": iso_time(ended), "down_since": iso_time(started), "down_seconds": round(ended - started)}
            self.queue.add(CAMERA_UP, data, ended)
        if down is not None and self._outage is None and now - down >= self.timing.camera_down_seconds:
            started = self.timing.clock() - (now - down)
            self._outage = (down, started)
            self.queue.add(CAMERA_DOWN, {"occurred_at": iso_time(started), "camera_state": camera.state}, started)

    # -- sending -------------------------------------------------------------------------------------------
    def _send_due(self, target: _Target) -> bool:
        """Send ``target`` what it is due, a batch at most; True when more is waiting."""
        for _ in range(BATCH):
            if self._stop.is_set():
                return False
            event = self.queue.next_for(target.url)
            if event is None:
                return False
            age = self.timing.clock() - event.queued
            if age > self.settings.keep_hours * 3600:
                log.warning(
                    "webhook %s: gave up %s event %s after %.1f hours undelivered (%d tries failed; last: %s)",
                    target.where,
                    event.kind,
                    event.event_id,
                    age / 3600,
                    target.failures,
                    target.last_problem or "none",
                )
                self.queue.done(target.url, event.number)
                continue
            if event.kind in ENTRY_KINDS and event.entry is None:  # the entry was purged since: nothing left to tell
                self.queue.done(target.url, event.number)
                continue
            problem = self._post(target.url, event)
            if problem is not None:
                self._failed(target, problem)
                return False
            if target.failures:
                log.info("webhook %s: delivering again after %d failed tries", target.where, target.failures)
            target.failures, target.last_problem = 0, ""
            self.queue.done(target.url, event.number)
        return True

    def _failed(self, target: _Target, problem: str) -> None:
        target.failures += 1
        target.last_problem = problem
        wait = backoff_seconds(
            target.failures, self.settings.max_retry_seconds, self.timing.jitter(), self.timing.first_retry_seconds
        )
        target.due = self.timing.monotonic() + wait
        # The first failure of an outage is a WARNING; the retries after it only with -v.
        level = logging.WARNING if target.failures == 1 else logging.DEBUG
        log.log(level, "webhook %s: %s; trying again in %.0f s (try %d)", target.where, problem, wait, target.failures)

    def _post(self, url: str, event: QueuedEvent) -> str | None:
        """One try: None when the receiver answered 2xx, otherwise what went wrong."""
        body = encode(event_body(event.event_id, event.kind, self.kiosk_id, event.entry, event.data, self.settings.include_names))
        headers = request_headers(self.secret, event.kind, event.event_id, int(self.timing.clock()), body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.settings.timeout_seconds) as answer:
                answer.read(ANSWER_BYTES)
                status = answer.status
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"answered HTTP {exc.code}"
        except urllib.error.URLError as exc:
            return f"not reachable ({exc.reason})"
        except (OSError, http.client.HTTPException) as exc:
            return f"failed ({type(exc).__name__}: {exc})"
        return None if 200 <= status < 300 else f"answered HTTP {status}"


def check_secret(settings) -> None:
    """``kiosk check-config``: the signing key can be read, when there are URLs to sign for."""
    if settings.urls:
        read_secret(settings.secret_file)


class NoWebhooks(NoObserver):
    """No ``[webhooks] urls``: nothing to send, and nothing to stop."""

    def stop(self) -> None:
        pass


def start_webhooks(config, store, status) -> WebhookSender | NoWebhooks:
    """``kiosk run``'s webhooks: the queue set for the configured URLs (emptied, and no longer filled, when
    there are none) and the sender's thread started. A missing or empty key file is a ConfigError."""
    settings = config.webhooks
    secret = read_secret(settings.secret_file) if settings.urls else b""
    queue = WebhookQueue(store)
    queue.configure(settings.urls)
    if not settings.urls:
        return NoWebhooks()
    sender = WebhookSender(queue, settings, secret, config.kiosk.id, status)
    log.info("webhooks to %d URL(s); %d event(s) waiting", len(settings.urls), max(queue.waiting(u) for u in settings.urls))
    return sender.start()
