"""What every /api/v1 route shares: the bearer token (401 without a valid
one, 403 without the scope, 429 beyond the token's rate), JSON errors that
name the field and the fix, and the small parsers of the requests' values.

Only the Authorization header authorises: the API never reads the admin
session, so a browser's cookie (the one thing a cross-site request carries)
opens nothing here, and the API can be exempt from the pages' CSRF tokens.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math

from flask import current_app, g, jsonify, request

from kiosk.api_tokens import ApiToken, ApiTokens, RateLimiter
from kiosk.web.services import application

log = logging.getLogger("kiosk.web.rest_api")
MAX_ID = 2**63 - 1  # SQLite's largest integer
# Days a range may cover, and the calendar it must lie in: as the timesheet pages allow.
MAX_RANGE_DAYS = 370
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2999, 12, 31)


class ApiError(Exception):
    """An answer other than success: the status, a short code, what is wrong and how to fix it, and the field it is about."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.extra = status, code, message, field, extra

    def response(self):
        body = {"error": self.code, "message": self.message, **self.extra}
        if self.field is not None:
            body["field"] = self.field
        resp = jsonify(body)
        resp.status_code = self.status
        return resp


def bad(field: str, message: str) -> ApiError:
    """A 400 about one field of the request; ``message`` says what a good value looks like."""
    return ApiError(400, "invalid_input", message, field)


def tokens() -> ApiTokens:
    return ApiTokens(application().store)


def limiter() -> RateLimiter:
    return current_app.extensions["api_rate_limiter"]


def token() -> ApiToken:
    """The token of the request being served (after :func:`require`)."""
    return g.api_token


def require(scope: str):
    """The route needs a bearer token in use with ``scope``; it is counted against the token's rate."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            g.api_token = _authenticate(scope)
            wait = limiter().take(g.api_token.id)
            if wait:
                limit = current_app.config["KIOSK_CONFIG"].api.requests_per_minute
                raise ApiError(
                    429,
                    "rate_limited",
                    f"This token may make {limit} requests a minute; wait {math.ceil(wait)} s and try again.",
                    retry_after=math.ceil(wait),
                )
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _authenticate(scope: str) -> ApiToken:
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    if not header:
        raise ApiError(
            401, "unauthorized", "Send a token an admin made on the API tokens page: 'Authorization: Bearer kiosk_...'."
        )
    if kind.lower() != "bearer" or not value.strip():
        raise ApiError(401, "unauthorized", "The Authorization header must be 'Bearer ' followed by the token.")
    found = tokens().verify(value.strip())
    if found is None:
        raise ApiError(401, "invalid_token", "The token is unknown or has been revoked; ask an admin for a new one.")
    if not found.allows(scope):
        raise ApiError(
            403, "insufficient_scope", f"Token {found.name!r} lacks the {scope!r} scope; an admin can make one that has it."
        )
    return found


def error_response(error: ApiError):
    resp = error.response()
    if error.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="kiosk"' + (
            ', error="invalid_token"' if error.code == "invalid_token" else ""
        )
    elif error.status == 403 and error.code == "insufficient_scope":
        resp.headers["WWW-Authenticate"] = 'Bearer realm="kiosk", error="insufficient_scope"'
    elif error.status == 429:
        resp.headers["Retry-After"] = str(error.extra["retry_after"])
    return resp


# -- the requests' values ----------------------------------------------------------------------------
def json_body(allowed: set[str], required: set[str]) -> dict:
    """The request's JSON object, with every required field and no unknown one."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise bad("body", "Send a JSON object with 'Content-Type: application/json'.")
    if unknown := sorted(set(body) - allowed):
        raise bad(unknown[0], f"Unknown field {unknown[0]!r}; the fields are {', '.join(sorted(allowed))}.")
    if missing := sorted(required - {k for k, v in body.items() if v not in (None, "")}):
        raise bad(missing[0], f"{missing[0]!r} is required.")
    return body


def identifier(value, field: str, what: str = "a person's id") -> int:
    """A positive integer id from JSON or a query string."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise bad(field, f"{field!r} must be {what}: a whole number such as 12.")
    return value


def text(value, field: str) -> str:
    if not isinstance(value, str):
        raise bad(field, f"{field!r} must be a string.")
    return value


def date(value, field: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text(value, field))
    except ValueError:
        raise bad(field, f"{field!r} must be a date such as 2026-11-23 (YYYY-MM-DD).") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise bad(field, f"{field!r} must be a date from {FIRST_DAY} to {LAST_DAY}.")
    return day


def flag(value, field: str) -> bool:
    """true or false, in JSON or in a query string or form ("true", "false", "1", "0")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise bad(field, f"{field!r} must be true or false.")


def date_range(default_first: dt.date, default_last: dt.date) -> tuple[dt.date, dt.date]:
    """The query's ``from`` and ``to`` (work days, both included), as the timesheet pages check them."""
    first = date(request.args["from"], "from") if request.args.get("from") else default_first
    last = date(request.args["to"], "to") if request.args.get("to") else default_last
    if last < first:
        raise bad("to", "'to' is before 'from'; give 'from' first, e.g. from=2026-11-01&to=2026-11-30.")
    if (last - first).days > MAX_RANGE_DAYS:
        raise bad("to", f"Ask for at most {MAX_RANGE_DAYS} days at once; split the range.")
    return first, last


def person_arg() -> int | None:
    raw = request.args.get("employee", "")
    return identifier(raw, "employee") if raw else None
