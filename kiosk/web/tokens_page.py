"""The admin page of the REST API's tokens: make one (a name and its scopes;
the token is shown this once), see when each was made and last used, and
revoke one. The rules and the table are in :mod:`kiosk.api_tokens`."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import Length

from kiosk.api_tokens import MAX_NAME, READ, WRITE, TokenError
from kiosk.web.api_auth import MAX_ID, tokens
from kiosk.web.auth import login_required

bp = Blueprint("api_tokens", __name__, url_prefix="/admin/tokens")


class TokenForm(FlaskForm):
    """A new token: its name and scopes (checked again, with messages, by the token rules)."""

    name = StringField("Name", validators=[Length(max=4 * MAX_NAME)])
    read = BooleanField("read: people, punches, timesheets, status", default=True)
    write = BooleanField("write: enrol and remove people, add and void punches")


class RevokeForm(FlaskForm):
    """Revoking a token: the CSRF token is all it carries."""


def _page(form=None, made=None, error=None, status=200):
    return render_template(
        "api_tokens.html",
        tokens=tokens().all(),
        form=form or TokenForm(formdata=None),
        revoke=RevokeForm(),
        made=made,
        error=error,
        limit=current_app.config["KIOSK_CONFIG"].api.requests_per_minute,
    ), status


@bp.get("/")
@login_required
def index():
    return _page()


@bp.post("/")
@login_required
def create():
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, error="Send the form again: " + "; ".join(e for es in form.errors.values() for e in es), status=400)
    scopes = [scope for scope, chosen in ((READ, form.read.data), (WRITE, form.write.data)) if chosen]
    try:
        made, token = tokens().create(form.name.data, scopes)
    except TokenError as exc:
        return _page(form, error=str(exc), status=400)
    current_app.logger.info("API token %s made (%s)", made.name, " ".join(made.scopes))
    # Shown on this response only (never stored, and /admin pages are never cached): no redirect to a page that keeps it.
    return _page(made={"token": token, "name": made.name, "scopes": made.scopes})


@bp.post("/<int:token_id>/revoke")
@login_required
def revoke(token_id):
    if not RevokeForm().validate_on_submit():
        abort(400)
    if token_id > MAX_ID:
        abort(404, description=f"No token {token_id}.")
    try:
        gone = tokens().revoke(token_id)
    except KeyError:
        abort(404, description=f"No token {token_id} in use.")
    current_app.logger.info("API token %s revoked", gone.name)
    flash(f"Token {gone.name} revoked: requests with it are refused from now on.")
    return redirect(url_for("api_tokens.index"))
