"""The webhooks' rules as small pure functions: what each event's body says,
how a delivery is signed, and how long to wait before trying again.

Signing: the receiver gets ``X-Kiosk-Timestamp`` (Unix seconds of this try)
and ``X-Kiosk-Signature: sha256=HEX``, the HMAC-SHA256, keyed with the shared
secret, of the timestamp, a full stop and the raw body (``b"%d." % ts + body``).
The timestamp is signed so that a recorded delivery replayed later is refused
by a receiver that checks it is recent; the event's id (``X-Kiosk-Delivery``
and the body's ``id``, the same on every try) lets it drop a second copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

PUNCH, CORRECTION, SPOOF, CAMERA_DOWN, CAMERA_UP = "punch", "correction", "spoof", "camera_down", "camera_up"
ENTRY_KINDS = (PUNCH, CORRECTION)  # read from the attendance log when sent
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-Kiosk-Signature", "X-Kiosk-Timestamp"
EVENT_HEADER, DELIVERY_HEADER = "X-Kiosk-Event", "X-Kiosk-Delivery"
USER_AGENT = "face-kiosk-webhooks/1"

# Back-off: the first retry after a second, then twice as long each time up to
# [webhooks] max_retry_seconds, less up to a quarter at random, so kiosks that
# lost the same receiver do not all come back to it in the same second.
FIRST_RETRY_SECONDS = 1.0
JITTER_SHARE = 0.25


def backoff_seconds(failures: int, cap: float, jitter: float, first: float = FIRST_RETRY_SECONDS) -> float:
    """How long to wait after ``failures`` (1 or more) failed tries in a row; ``jitter`` is a number in [0, 1)."""
    nominal = min(cap, first * 2.0 ** min(max(failures - 1, 0), 60))
    return nominal * (1.0 - JITTER_SHARE * jitter)


def iso_time(unix_seconds: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second."""
    return dt.datetime.fromtimestamp(unix_seconds, dt.UTC).isoformat(timespec="seconds")


def event_body(event_id: str, kind: str, kiosk_id: str, entry: dict | None, data: dict | None, include_names: bool) -> dict:
    """The JSON body of one event. Entries (punches, corrections) name the person by ``employee_id`` (and
    ``employee_number``, the payroll number, when set); their name, a correction's author and reason only
    with ``include_names``. ``data`` is the stored detail of the other kinds (``occurred_at`` and a few more)."""
    body: dict = {"id": event_id, "event": kind, "kiosk_id": kiosk_id}
    if entry is None:
        body.update(data or {})
        return body
    body.update(
        occurred_at=entry["at"],
        employee_id=entry["employee_id"],
        employee_number=entry["employee_number"],
        direction=entry["direction"],
        work_day=entry["day"],
        entry_id=entry["id"],
        recorded_by=entry["kiosk_id"],
    )
    if kind == CORRECTION:
        body["correction"] = entry["kind"]  # added, void or redirect
        corrects = entry["target_id"]
        body["corrects"] = None if corrects is None else {"entry_id": corrects, "entry_uuid": entry["target_uuid"]}
    if include_names:
        body["name"] = entry["name"]
        if kind == CORRECTION:
            body.update(author=entry["author"], reason=entry["note"])
    return body


def encode(body: dict) -> bytes:
    """The bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_material(timestamp: int, body: bytes) -> bytes:
    """What the signature covers: the timestamp, a full stop, the raw body."""
    return b"%d." % timestamp + body


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Kiosk-Signature`` header's value."""
    return "sha256=" + hmac.new(secret, signed_material(timestamp, body), hashlib.sha256).hexdigest()


def request_headers(secret: bytes, kind: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one try."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: kind,
        DELIVERY_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def verify(secret: bytes, headers, body: bytes, now: float, tolerance_seconds: float = 300.0) -> bool:
    """What a receiver checks (the README's snippet does the same): the signature, in constant time,
    and a timestamp within ``tolerance_seconds`` of ``now``."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), headers.get(SIGNATURE_HEADER, ""))
