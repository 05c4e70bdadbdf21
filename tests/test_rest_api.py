"""The REST API under /api/v1: tokens (scopes, revocation, hashed at rest),
every route, bad input, 401/403/429, the OpenAPI description and its curl
example, writers at once through a real server, and the admin token page."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import shlex
import threading
import urllib.error
import urllib.request

import pytest

from kiosk.api_tokens import ApiTokens, RateLimiter, TokenError, digest
from kiosk.config import Config, KioskSettings
from kiosk.integration_settings import ApiSettings
from kiosk.status import Screen, Status
from kiosk.store import Store
from kiosk.web import create_app, passwords, rest_api
from tests.helpers import PASSWORD, form_token, login, photo_bytes, serve, services, token_of

DAY = "2026-11-23"
STAFF = "name,employee_number\nAda Lovelace,E1\nGrace Hopper,E2\n"


def make_app(tmp_path, per_minute=1000, enabled=True, encoder=None, **kw):
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), api=ApiSettings(enabled=enabled, requests_per_minute=per_minute))
    svc = services(tmp_path / "kiosk.db", kw.pop("status", None) or Status(), encoder, **kw)
    return create_app(config, svc, {"TESTING": True}), svc


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_token(svc, name="payroll", scopes=("read", "write")) -> str:
    return ApiTokens(svc.app.store).create(name, list(scopes))[1]


@pytest.fixture
def kiosk(tmp_path):
    """An app with two people (from a staff file: no photos needed) and a read+write token."""
    app, svc = make_app(tmp_path)
    svc.app.staff.import_file(STAFF)
    ids = {p.name: p.id for p in svc.app.staff.people()}
    return app.test_client(), svc, make_token(svc), ids


# -- tokens ---------------------------------------------------------------------------------------------------------
def test_tokens_are_kept_hashed_scoped_and_revocable(tmp_path):
    store = Store(tmp_path / "kiosk.db")
    tokens = ApiTokens(store)
    made, token = tokens.create("payroll-sync", ["write", "read", "read"])
    assert made.scopes == ("read", "write") and token.startswith(f"kiosk_{made.id}_")
    reader, read_only = tokens.create("dashboard", ["read"])
    secret = token.split("_", 2)[2]  # kiosk_<id>_<secret>; the secret may hold underscores itself
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = (tmp_path / "kiosk.db").read_bytes()
    assert token.encode() not in raw and secret.encode() not in raw  # neither the token nor its secret is stored
    assert digest(secret).encode() in raw  # only its SHA-256
    assert [row[0] for row in store.db.execute("SELECT secret_sha256 FROM api_tokens ORDER BY id")] == [
        digest(secret),
        digest(read_only.split("_", 2)[2]),
    ]

    assert tokens.verify(token).name == "payroll-sync"
    assert tokens.verify(read_only).allows("read") and not tokens.verify(read_only).allows("write")
    assert tokens.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None  # one character off
    assert tokens.verify(f"kiosk_{reader.id}_{secret}") is None  # another token's secret
    assert tokens.verify("kiosk_999_" + secret) is None and tokens.verify("") is None and tokens.verify("Bearer x") is None
    assert tokens.all()[0].last_used is not None  # verified, so used

    with pytest.raises(TokenError, match="in use"):
        tokens.create("payroll-sync", ["read"])
    assert tokens.revoke(made.id).revoked is not None
    assert tokens.verify(token) is None
    with pytest.raises(KeyError):
        tokens.revoke(made.id)  # already revoked
    assert tokens.create("payroll-sync", ["read"])[0].id != made.id  # the name is free again, the old token stays dead
    assert tokens.verify(token) is None
    for name, scopes, needle in [
        ("", ["read"], "Give the token a name"),
        ("evil\nINFO forged line", ["read"], "letters A-Z"),
        ("x" * 61, ["read"], "at most 60"),
        ("ok", [], "at least one scope"),
        ("ok", ["admin"], "Unknown scope 'admin'"),
    ]:
        with pytest.raises(TokenError, match=needle):
            tokens.create(name, scopes)


def test_the_rate_limit_is_a_sliding_window_per_token():
    now = [0.0]
    limiter = RateLimiter(3, 60.0, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(40.0) and limiter.take("b") == 0.0  # another token has its own
    now[0] = 30.0
    assert limiter.take("a") == pytest.approx(30.0)  # refusals are not counted
    now[0] = 60.0
    assert limiter.take("a") == 0.0  # the request at 0 s left the window: one more
    assert limiter.take("a") == pytest.approx(10.0)  # and the next when the one at 10 s leaves


# -- authentication ---------------------------------------------------------------------------------------------------
def test_requests_without_a_valid_token_get_401(kiosk):
    client, svc, token, _ = kiosk
    missing = client.get("/api/v1/people")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.get_json()["message"]
    assert client.get("/api/v1/people", headers={"Authorization": f"Basic {token}"}).status_code == 401
    forged = client.get("/api/v1/people", headers=bearer(token[:-2] + "xx"))
    assert forged.status_code == 401 and forged.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    assert client.get("/api/v1/people", headers=bearer(token)).status_code == 200
    ApiTokens(svc.app.store).revoke(int(token.split("_")[1]))
    revoked = client.get("/api/v1/people", headers=bearer(token))
    assert revoked.status_code == 401 and "revoked" in revoked.get_json()["message"]


def test_a_token_without_the_scope_gets_403(kiosk):
    client, svc, _, ids = kiosk
    reader = make_token(svc, "dashboard", ["read"])
    writer = make_token(svc, "clock-in-app", ["write"])
    assert client.get("/api/v1/punches", headers=bearer(reader)).status_code == 200
    refused = client.post("/api/v1/punches", headers=bearer(reader), json=_punch(ids["Ada Lovelace"], "08:00", "in"))
    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"
    assert "'write'" in refused.get_json()["message"] and svc.app.store.punch_log() == []
    assert client.delete(f"/api/v1/people/{ids['Ada Lovelace']}", headers=bearer(reader)).status_code == 403
    assert client.get("/api/v1/people", headers=bearer(writer)).status_code == 403  # write does not imply read
    assert len(svc.app.employees()) == 2


def test_an_admin_session_cookie_alone_opens_nothing(kiosk):
    client, svc, _, ids = kiosk
    assert login(client).status_code == 302 and client.get("/admin/").status_code == 200
    assert client.get("/api/v1/people").status_code == 401
    # A cross-site form post carries the cookie but no token: refused, and not merely for a missing CSRF token.
    posted = client.post("/api/v1/punches", json=_punch(ids["Ada Lovelace"], "08:00", "in"))
    assert posted.status_code == 401 and posted.is_json
    assert client.delete(f"/api/v1/people/{ids['Ada Lovelace']}").status_code == 401 and len(svc.app.employees()) == 2


def test_beyond_the_rate_a_token_gets_429_with_retry_after(tmp_path):
    app, svc = make_app(tmp_path, per_minute=3)
    client, token, other = app.test_client(), make_token(svc), make_token(svc, "other", ["read"])
    assert [client.get("/api/v1/status", headers=bearer(token)).status_code for _ in range(3)] == [200] * 3
    limited = client.get("/api/v1/people", headers=bearer(token))
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "3 requests a minute" in limited.get_json()["message"]
    assert client.get("/api/v1/status", headers=bearer(other)).status_code == 200  # per token


def test_with_the_api_disabled_there_is_no_api_and_no_token_page(tmp_path):
    app, svc = make_app(tmp_path, enabled=False)
    client = app.test_client()
    token = make_token(svc)
    assert client.get("/api/v1/people", headers=bearer(token)).status_code == 404
    assert client.get("/api/v1/openapi.json").status_code == 404
    assert not [r for r in app.url_map.iter_rules() if r.rule.startswith(("/api/v1", "/admin/tokens"))]
    login(client)
    assert b"API tokens" not in client.get("/admin/").data


# -- people -------------------------------------------------------------------------------------------------------------
def test_people_are_listed_with_their_payroll_details_and_removed(kiosk):
    client, svc, token, ids = kiosk
    listed = client.get("/api/v1/people", headers=bearer(token)).get_json()["people"]
    assert listed == [
        {
            "id": ids["Ada Lovelace"],
            "name": "Ada Lovelace",
            "employee_number": "E1",
            "first_name": None,
            "last_name": None,
            "expected_start": None,
            "has_photo": False,
        },
        {
            "id": ids["Grace Hopper"],
            "name": "Grace Hopper",
            "employee_number": "E2",
            "first_name": None,
            "last_name": None,
            "expected_start": None,
            "has_photo": False,
        },
    ]
    one = client.get(f"/api/v1/people/{ids['Grace Hopper']}", headers=bearer(token))
    assert one.get_json()["employee_number"] == "E2"
    assert client.get("/api/v1/people/999", headers=bearer(token)).status_code == 404
    grace = ids["Grace Hopper"]
    client.post("/api/v1/punches", headers=bearer(token), json=_punch(grace, "08:00", "in"))
    removed = client.delete(f"/api/v1/people/{grace}", headers=bearer(token))
    assert removed.status_code == 200 and removed.get_json() == {"removed": grace, "purged": False}
    assert [e.name for e in svc.app.employees()] == ["Ada Lovelace"]
    assert len(svc.app.store.punch_log()) == 1  # history kept for the timesheet
    gone = client.delete(f"/api/v1/people/{grace}", headers=bearer(token))
    assert gone.status_code == 404 and gone.is_json
    ada = ids["Ada Lovelace"]
    client.post("/api/v1/punches", headers=bearer(token), json=_punch(ada, "08:00", "in"))
    purged = client.delete(f"/api/v1/people/{ada}?purge=true", headers=bearer(token))
    assert purged.get_json()["purged"] is True and svc.app.store.punch_log(employee_id=ada) == []


def test_at_a_fleets_door_people_and_corrections_are_refused_and_nothing_changes(tmp_path):
    app, svc = make_app(tmp_path, staff_managed_here=False)
    svc.app.staff.import_file(STAFF)
    client, token = app.test_client(), make_token(svc)
    ada = svc.app.employees()[0].id
    entry = svc.app.add_punch(ada, dt.date(2026, 11, 23), dt.time(8), "in", author="door", note="set up")
    before = svc.app.store.punch_log()
    for response in (
        client.delete(f"/api/v1/people/{ada}", headers=bearer(token)),
        client.post("/api/v1/people", headers=bearer(token), data={"name": "Eve"}, content_type="multipart/form-data"),
        client.post("/api/v1/punches", headers=bearer(token), json=_punch(ada, "17:00", "out")),
        client.post(f"/api/v1/punches/{entry.id}/void", headers=bearer(token), json={"note": "wrong"}),
    ):
        body = response.get_json()
        assert response.status_code == 403 and body["error"] == "managed_elsewhere"
        assert "fleet's admin server" in body["message"] and "Nothing was changed" in body["message"]
    assert len(svc.app.employees()) == 2 and svc.app.store.punch_log() == before
    assert client.get("/api/v1/people", headers=bearer(token)).status_code == 200  # reading is fine at a door


# -- punches, timesheets and corrections ----------------------------------------------------------------------------------
def _punch(employee_id, time, direction, note="forgot to look at the kiosk", day=DAY):
    return {"employee_id": employee_id, "day": day, "time": time, "direction": direction, "note": note}


def test_punches_timesheets_and_corrections_as_the_pages_make_them(kiosk, caplog):
    client, svc, token, ids = kiosk
    ada = ids["Ada Lovelace"]
    caplog.set_level(logging.DEBUG, logger="kiosk.web.rest_api")
    came = client.post("/api/v1/punches", headers=bearer(token), json=_punch(ada, "08:30", "in"))
    assert came.status_code == 201
    came = came.get_json()
    assert came["kind"] == "added" and came["direction"] == "in" and came["author"] == "api token payroll"
    assert came["work_date"] == DAY and came["at"].startswith("2026-11-23T08:30:00") and came["counts"] is True
    went = client.post("/api/v1/punches", headers=bearer(token), json=_punch(ada, "17:00", "out")).get_json()
    wrong = client.post("/api/v1/punches", headers=bearer(token), json=_punch(ada, "12:00", "out")).get_json()

    day = client.get(f"/api/v1/timesheet?from={DAY}&to={DAY}", headers=bearer(token)).get_json()
    assert day["from"] == DAY and len(day["days"]) == 1 and day["days"][0]["complete"] is False  # an OUT, then an OUT
    voided = client.post(f"/api/v1/punches/{wrong['id']}/void", headers=bearer(token), json={"note": "pressed twice"})
    assert voided.status_code == 201
    assert voided.get_json()["kind"] == "void" and voided.get_json()["corrects_entry"] == wrong["id"]

    day = client.get(f"/api/v1/timesheet?from={DAY}&to={DAY}", headers=bearer(token)).get_json()["days"][0]
    assert day["employee_id"] == ada and day["worked_minutes"] == 8 * 60 + 30 and day["complete"] is True
    assert day["first_in"].startswith("2026-11-23T08:30") and day["last_out"].startswith("2026-11-23T17:00")
    assert day["punches"] == [came["id"], went["id"]]
    # The API's timesheet is the application's, as the pages show it.
    (record,) = svc.app.timesheet(dt.date(2026, 11, 23), dt.date(2026, 11, 23))
    assert record.worked == dt.timedelta(hours=8, minutes=30)

    log = client.get(f"/api/v1/punches?from={DAY}&to={DAY}&employee={ada}", headers=bearer(token)).get_json()["punches"]
    assert [(p["id"], p["kind"], p["counts"]) for p in log] == [
        (came["id"], "added", True),
        (wrong["id"], "added", False),
        (went["id"], "added", True),
        (voided.get_json()["id"], "void", False),  # made today, shown with the punch it voids
    ]
    other = client.get(f"/api/v1/punches?from={DAY}&to={DAY}&employee={ids['Grace Hopper']}", headers=bearer(token))
    assert other.get_json()["punches"] == []
    again = client.post(f"/api/v1/punches/{voided.get_json()['id']}/void", headers=bearer(token), json={"note": "x"})
    assert again.status_code == 409 and "only punches" in again.get_json()["message"]
    assert client.post("/api/v1/punches/99999/void", headers=bearer(token), json={"note": "x"}).status_code == 404

    writes = [r for r in caplog.records if r.name == "kiosk.web.rest_api" and r.levelno >= logging.INFO]
    assert len(writes) == 4 and all("api token payroll" in r.getMessage() for r in writes)
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG and "Ada" in r.getMessage()]


def test_without_a_range_punches_are_todays_and_the_timesheet_this_weeks(kiosk):
    client, svc, token, ids = kiosk
    today = svc.app.today()
    punches = client.get("/api/v1/punches", headers=bearer(token)).get_json()
    assert punches["from"] == punches["to"] == today.isoformat()
    sheet = client.get("/api/v1/timesheet", headers=bearer(token)).get_json()
    assert sheet["from"] == (today - dt.timedelta(days=today.weekday())).isoformat() and sheet["to"] == today.isoformat()


@pytest.mark.parametrize(
    "method,path,body,field,needle",
    [
        ("get", "/api/v1/punches?from=23/11/2026", None, "from", "YYYY-MM-DD"),
        ("get", "/api/v1/timesheet?from=2026-11-23&to=2026-11-01", None, "to", "before 'from'"),
        ("get", "/api/v1/timesheet?from=2020-01-01&to=2026-01-01", None, "to", "at most 370 days"),
        ("get", "/api/v1/punches?from=0001-01-01", None, "from", "from 1970-01-01"),
        ("get", "/api/v1/punches?employee=abc", None, "employee", "whole number"),
        ("get", "/api/v1/punches?employee=99999999999999999999", None, "employee", "whole number"),
        ("post", "/api/v1/punches", "not json", "body", "JSON object"),
        ("post", "/api/v1/punches", [1, 2], "body", "JSON object"),
        ("post", "/api/v1/punches", {"day": DAY, "time": "08:00", "direction": "in", "note": "x"}, "employee_id", "required"),
        ("post", "/api/v1/punches", {**_punch(1, "08:00", "in"), "employe_id": 1}, "employe_id", "Unknown field"),
        ("post", "/api/v1/punches", _punch("one", "08:00", "in"), "employee_id", "whole number"),
        ("post", "/api/v1/punches", _punch(True, "08:00", "in"), "employee_id", "whole number"),
        ("post", "/api/v1/punches", _punch(1, "8 o'clock", "in"), "time", "HH:MM"),
        ("post", "/api/v1/punches", _punch(1, "08:00+01:00", "in"), "time", "without an offset"),
        ("post", "/api/v1/punches", _punch(1, "08:00", "IN!"), "direction", '"in" or "out"'),
        ("post", "/api/v1/punches", _punch(1, "08:00", "in", day="tomorrow"), "day", "YYYY-MM-DD"),
        ("post", "/api/v1/punches", _punch(1, "08:00", "in", note="two\nlines"), "note", "line breaks"),
        ("post", "/api/v1/punches", _punch(1, "08:00", "in", note="x" * 301), "note", "at most 300"),
        ("post", "/api/v1/punches/1/void", {}, "note", "required"),
        ("post", "/api/v1/punches/1/void", {"note": "x", "wrong_person": "maybe"}, "wrong_person", "true or false"),
        ("delete", "/api/v1/people/1?purge=perhaps", None, "purge", "true or false"),
        ("post", "/api/v1/people", {"name": "Eve"}, "body", "multipart/form-data"),
    ],
)
def test_bad_input_gets_a_400_naming_the_field_and_the_fix(kiosk, method, path, body, field, needle):
    client, _, token, _ = kiosk
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}
    response = getattr(client, method)(path, headers=bearer(token), **(kwargs if body is not None else {}))
    answer = response.get_json()
    assert response.status_code == 400 and answer["error"] == "invalid_input"
    assert answer["field"] == field and needle in answer["message"]


def test_nobody_missing_paths_and_wrong_methods_get_json_errors(kiosk):
    client, _, token, _ = kiosk
    response = client.post("/api/v1/punches", headers=bearer(token), json=_punch(424242, "08:00", "in"))
    assert response.status_code == 404 and "/api/v1/people" in response.get_json()["message"]
    assert client.get("/api/v1/nothing-here", headers=bearer(token)).get_json()["error"] == "not_found"
    assert client.put("/api/v1/people", headers=bearer(token)).get_json()["error"] == "method_not_allowed"
    huge = {"name": "X", "photo": (io.BytesIO(b"0" * (11 * 2**20)), "a.jpg")}
    too_big = client.post("/api/v1/people", headers=bearer(token), data=huge, content_type="multipart/form-data")
    assert too_big.status_code == 413 and "at most 10 MB" in too_big.get_json()["message"]
    assert client.put("/admin/").mimetype == "text/html"  # the pages keep theirs


def test_status_never_names_anyone(tmp_path):
    status = Status(model_version="v1", threshold=0.3, gallery_size=2)
    status.show(Screen("welcome", "Welcome, Alice", "IN at 08:59", public_title="Welcome"))
    app, svc = make_app(tmp_path, status=status)
    client = app.test_client()  # from loopback, where /status would name her to the kiosk's own display
    assert "Alice" in client.get("/status").get_data(as_text=True)
    answer = client.get("/api/v1/status", headers=bearer(make_token(svc)))
    assert answer.status_code == 200 and answer.get_json()["state"] == "welcome"
    assert "Alice" not in answer.get_data(as_text=True) and "last_recognitions" not in answer.get_json()


# -- the description ------------------------------------------------------------------------------------------------------
def test_the_openapi_description_covers_every_route_and_its_example_runs(kiosk):
    client, svc, token, ids = kiosk
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.mimetype == "application/json"
    doc = json.loads(served.data)
    assert doc["openapi"].startswith("3.") and doc["paths"] == rest_api.described_paths()
    routes = {
        (rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace(">", "}"), method.lower())
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint.startswith("rest_api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    described = {(path, m) for path, item in doc["paths"].items() for m in item if m != "parameters"}
    assert routes == described
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:  # every reference resolves
        node = doc
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                assert op["responses"] and op["summary"] and op["x-codeSamples"][0]["lang"] == "curl", (path, method)

    # The documented example of adding a punch, as curl would send it (employee 1 is Ada here).
    assert ids["Ada Lovelace"] == 1
    method, url, headers, body = curl(doc["paths"]["/punches"]["post"]["x-codeSamples"][0]["source"], token)
    assert method == "POST" and url.startswith("http://kiosk.local:8080/api/v1/")
    response = client.open(url.removeprefix("http://kiosk.local:8080"), method=method, headers=headers, data=body)
    assert response.status_code == 201 and response.get_json()["note"] == "forgot to look at the kiosk"
    listed = client.get("/api/v1/punches?from=2026-11-23&to=2026-11-27", headers=bearer(token)).get_json()
    assert [p["id"] for p in listed["punches"]] == [response.get_json()["id"]]


def curl(source: str, token: str) -> tuple[str, str, dict, str | None]:
    """A documented curl command line as its method, URL, headers and body (-H, -d, -X; $KIOSK_TOKEN given)."""
    args = shlex.split(source.replace("$KIOSK_TOKEN", token))
    assert args[0] == "curl"
    method, headers, body, url, rest = "GET", {}, None, None, iter(args[1:])
    for arg in rest:
        if arg == "-H":
            key, value = next(rest).split(": ", 1)
            headers[key] = value
        elif arg == "-d":
            body, method = next(rest), "POST"
        elif arg == "-X":
            method = next(rest)
        else:
            url = arg
    return method, url, headers, body


# -- writers at once ---------------------------------------------------------------------------------------------------------
def test_writers_at_once_through_a_real_server_are_recorded_exactly_once(kiosk):
    client, svc, token, ids = kiosk
    server = serve(client.application)
    base = f"http://127.0.0.1:{server.server_port}/api/v1"
    ada, grace = ids["Ada Lovelace"], ids["Grace Hopper"]
    first = [svc.app.add_punch(ada, dt.date(2026, 11, 2), dt.time(9, i), "in", author="t", note="seed") for i in range(8)]
    results, errors = [], []

    def send(path, body):
        request = urllib.request.Request(
            base + path, json.dumps(body).encode(), {**bearer(token), "Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                results.append((answer.status, json.loads(answer.read())))
        except urllib.error.HTTPError as exc:  # pragma: no cover - shown if it fails
            errors.append((exc.code, exc.read()))

    jobs = [
        ("/punches", _punch(grace if i % 2 else ada, f"{8 + i // 6:02d}:{i % 60:02d}", "in", note=f"n{i}")) for i in range(24)
    ]
    jobs += [(f"/punches/{e.id}/void", {"note": f"void {e.id}"}) for e in first]
    threads = [threading.Thread(target=send, args=job) for job in jobs]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.shutdown()
    assert errors == [] and len(results) == len(jobs) and {status for status, _ in results} == {201}
    log = svc.app.store.punch_log()
    added = sorted(r.note for r in log if r.note.startswith("n"))
    assert added == sorted(f"n{i}" for i in range(24))  # each exactly once
    voids = [r for r in log if r.kind == "void"]
    assert sorted(r.target_id for r in voids) == sorted(e.id for e in first)
    assert len({r.id for r in log}) == len(log) == 8 + 24 + 8


# -- the admin page ------------------------------------------------------------------------------------------------------------
def test_the_admin_page_makes_shows_once_lists_and_revokes_tokens(tmp_path):
    app, svc = make_app(tmp_path)
    client = app.test_client()
    assert client.get("/admin/tokens/").status_code == 302  # login first
    login(client)
    page = client.get("/admin/tokens/")
    assert page.status_code == 200 and b"No tokens yet" in page.data
    assert b'href="/admin/tokens/"' in client.get("/admin/").data  # in the nav
    no_csrf = client.post("/admin/tokens/", data={"name": "hr-export", "read": "y"})
    assert no_csrf.status_code == 400 and ApiTokens(svc.app.store).all() == []
    made = client.post(
        "/admin/tokens/", data={"csrf_token": token_of(page.get_data(as_text=True)), "name": "hr-export", "read": "y"}
    )
    html = made.get_data(as_text=True)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    token = html.split('<code class="token">')[1].split("<")[0]
    assert token.startswith("kiosk_") and "shown this once" in html
    assert client.get("/api/v1/people", headers=bearer(token)).status_code == 200

    listed = client.get("/admin/tokens/").get_data(as_text=True)
    assert "hr-export" in listed and token not in listed and "never" not in listed.split("hr-export")[1].split("</tr>")[0]
    refused = client.post("/admin/tokens/", data={"csrf_token": form_token(client, "/admin/tokens/"), "name": "x\ny"})
    assert refused.status_code == 400 and b"letters A-Z" in refused.data and b"Choose at least one scope" not in refused.data
    (row,) = ApiTokens(svc.app.store).all()
    assert client.post(f"/admin/tokens/{row.id}/revoke", data={}).status_code == 400  # no CSRF token
    assert client.get("/api/v1/people", headers=bearer(token)).status_code == 200
    revoked = client.post(
        f"/admin/tokens/{row.id}/revoke", data={"csrf_token": form_token(client, "/admin/tokens/")}, follow_redirects=True
    )
    assert revoked.status_code == 200 and b"Token hr-export revoked" in revoked.data and b"revoked 20" in revoked.data
    assert client.get("/api/v1/people", headers=bearer(token)).status_code == 401


# -- enrolment (LFW photos) ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder(detector):
    from kiosk.composition import build_encoder
    from kiosk.config import BUNDLED_MODEL

    return build_encoder(BUNDLED_MODEL)


def _enrol(client, token, name, data, force=None):
    form = {"name": name, "photo": (io.BytesIO(data), "face.jpg")}
    if force is not None:
        form["force"] = force
    return client.post("/api/v1/people", headers=bearer(token), data=form, content_type="multipart/form-data")


@pytest.mark.lfw
def test_enrolling_from_a_photo_checks_quality_and_look_alikes(lfw, tmp_path, encoder, caplog):
    app, svc = make_app(tmp_path, encoder=encoder)
    client, token = app.test_client(), make_token(svc)
    caplog.set_level(logging.INFO, logger="kiosk.web.rest_api")
    made = _enrol(client, token, "Colin Powell", photo_bytes("Colin_Powell", 2))
    assert made.status_code == 201 and made.get_json()["has_photo"] is True
    colin = made.get_json()["id"]
    assert made.headers["Location"].endswith(f"/api/v1/people/{colin}")
    assert svc.app.gallery().ids.tolist() == [colin]  # in the gallery the door recognises from

    twin = _enrol(client, token, "Not Colin", photo_bytes("Colin_Powell", 2))
    answer = twin.get_json()
    assert twin.status_code == 409 and answer["error"] == "looks_like_someone" and answer["field"] == "photo"
    assert answer["lookalikes"][0]["id"] == colin and "force=true" in answer["message"]
    assert len(svc.app.employees()) == 1
    assert _enrol(client, token, "Not Colin", photo_bytes("Colin_Powell", 2), force="true").status_code == 201

    blank = _enrol(client, token, "Nobody", b"\x89PNG not really")
    assert blank.status_code == 422 and blank.get_json()["field"] == "photo"
    unnamed = _enrol(client, token, "  ", photo_bytes("George_W_Bush"))
    assert unnamed.status_code == 400 and unnamed.get_json()["field"] == "name"
    nophoto = client.post("/api/v1/people", headers=bearer(token), data={"name": "X"}, content_type="multipart/form-data")
    assert nophoto.status_code == 400 and nophoto.get_json()["field"] == "photo"
    assert len(svc.app.employees()) == 2
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert sum("api token payroll enrolled employee" in m for m in messages) == 2
    assert not [m for m in messages if "Colin" in m]
