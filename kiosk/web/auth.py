"""Admin login: one password, expiring sessions, rate-limited attempts."""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict, deque

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired

from kiosk.web import passwords

bp = Blueprint("auth", __name__, url_prefix="/admin")

MAX_FAILURES = 5
WINDOW_SECONDS = 300


class LoginForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired()])


class _Attempts:
    """Failed logins per client address within a sliding window."""

    def __init__(self):
        self._lock = threading.Lock()
        self._failures: dict[str, deque] = defaultdict(deque)

    def blocked(self, client: str) -> bool:
        with self._lock:
            q = self._failures[client]
            while q and time.monotonic() - q[0] > WINDOW_SECONDS:
                q.popleft()
            return len(q) >= MAX_FAILURES

    def fail(self, client: str) -> None:
        with self._lock:
            self._failures[client].append(time.monotonic())

    def reset(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def _data_dir():
    return current_app.config["KIOSK_CONFIG"].kiosk.data_dir


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not passwords.is_set(_data_dir()):
            return render_template("setup.html"), 503
        if not session.get("admin"):
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not passwords.is_set(_data_dir()):
        return render_template("setup.html"), 503
    attempts: _Attempts = current_app.extensions["login_attempts"]
    client = request.remote_addr or "?"
    form = LoginForm()
    if request.method == "POST" and attempts.blocked(client):
        return render_template("login.html", form=form, error="Too many failed attempts. Wait five minutes."), 429
    if form.validate_on_submit():
        if passwords.check(_data_dir(), form.password.data):
            attempts.reset(client)
            session.clear()
            session.permanent = True
            session["admin"] = True
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/admin") else url_for("admin.employees"))
        attempts.fail(client)
        current_app.logger.warning("failed admin login from %s", client)
        return render_template("login.html", form=form, error="Wrong password."), 401
    return render_template("login.html", form=form, error=None)


@bp.post("/logout")
def logout():
    session.clear()
    flash("Logged out.")
    return redirect(url_for("auth.login"))
