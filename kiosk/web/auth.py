"""Admin login: one password, sessions that expire and can be revoked, and
rate-limited attempts that cannot be raced.

- At most one password check runs at a time (each costs ~32 MiB of scrypt
  memory), and an attempt is counted *before* it is checked, atomically, so
  parallel guesses get no more tries than sequential ones.
- A session carries the server-side session epoch; logging out or setting a
  new password bumps it, which ends every earlier session. Sessions last
  ``web.session_minutes`` from login and are not renewed by use.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict, deque

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired

from kiosk.addresses import parse
from kiosk.web import passwords

bp = Blueprint("auth", __name__, url_prefix="/admin")

MAX_FAILURES = 5
WINDOW_SECONDS = 300
MAX_CLIENTS = 1000  # addresses remembered; the oldest are forgotten first


class LoginForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired()])


class Attempts:
    """Login attempts per client address within a sliding window, bounded in size."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS, max_clients: int = MAX_CLIENTS):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._lock = threading.Lock()
        self._tries: OrderedDict[str, deque] = OrderedDict()

    def begin(self, client: str, now: float | None = None) -> bool:
        """Count one attempt; False (and nothing counted) when the client is already at the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tries = self._tries.pop(client, deque())
            while tries and now - tries[0] > self.window:
                tries.popleft()
            self._tries[client] = tries  # most recently seen last
            if len(tries) >= self.limit:
                return False
            tries.append(now)
            while len(self._tries) > self.max_clients:
                self._tries.popitem(last=False)
            return True

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._tries.pop(client, None)

    def __len__(self) -> int:
        return len(self._tries)


_CHECK = threading.Lock()  # one scrypt at a time, whoever asks


def check_password(data_dir, password: str) -> bool:
    with _CHECK:
        return passwords.check(data_dir, password)


def _data_dir():
    return current_app.config["KIOSK_CONFIG"].kiosk.data_dir


def logged_in() -> bool:
    """A session from a login that has not expired and is of the current epoch."""
    if not session.get("admin"):
        return False
    minutes = current_app.config["KIOSK_CONFIG"].web.session_minutes
    if time.time() - float(session.get("since", 0)) > 60 * minutes:
        return False
    return session.get("epoch") == passwords.session_epoch(_data_dir())


def client_address() -> str:
    """Who is asking (behind a trusted proxy: the client it names), one way however
    it is written: ``::ffff:10.0.0.5`` is ``10.0.0.5``, so one client is counted once."""
    address = request.remote_addr or "?"
    ip = parse(address)
    return str(ip) if ip is not None else address


def local_target(raw: str, field: str, default: str) -> str:
    """Where to go back to after a form: a page of the admin site, else ``default``.
    A control character (CR/LF would split the Location header) is a bad request."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        abort(400, description=f"'{field}' must be a page of this site, without control characters.")
    return raw if raw.startswith("/admin") and not raw.startswith("//") and "\\" not in raw else default


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not passwords.is_set(_data_dir()):
            return render_template("setup.html"), 503
        if not logged_in():
            session.clear()
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not passwords.is_set(_data_dir()):
        return render_template("setup.html"), 503
    attempts: Attempts = current_app.extensions["login_attempts"]
    client = client_address()
    target = local_target(request.args.get("next", ""), "next", url_for("staff.employees"))
    form = LoginForm()
    if form.validate_on_submit():
        if not attempts.begin(client):
            return render_template("login.html", form=form, error="Too many failed attempts. Wait five minutes."), 429
        if check_password(_data_dir(), form.password.data):
            attempts.succeeded(client)
            session.clear()
            session.permanent = True  # the cookie expires with the session
            session.update(admin=True, since=time.time(), epoch=passwords.session_epoch(_data_dir()))
            return redirect(target)
        current_app.logger.warning("failed admin login from %s", client)
        return render_template("login.html", form=form, error="Wrong password."), 401
    return render_template("login.html", form=form, error=None)


@bp.post("/logout")
def logout():
    if logged_in():
        passwords.bump_session_epoch(_data_dir())  # every earlier session ends here, copied cookies included
    session.clear()
    flash("Logged out.")
    return redirect(url_for("auth.login"))
