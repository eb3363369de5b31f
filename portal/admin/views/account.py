"""The staff member's own pages: the TOTP second factor (set up on first use) and the audit log."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import audit
from portal.admin.access import (
    SecondFactorError,
    confirm_setup,
    current_staff,
    pending_secret,
    provisioning_uri,
    second_factor_done,
    verify,
)
from portal.admin.audit import Actor
from portal.admin.forms import SecondFactorForm
from portal.admin.views import bp
from portal.extensions import db, limiter


def _next_in_console(target: str | None) -> str:
    """Follow ``next`` only to a console page on this site."""
    if target:
        parts = urlsplit(target)
        plain = target.isprintable() and "\\" not in target  # no CR/LF for a Location header
        if plain and not parts.scheme and not parts.netloc and parts.path.startswith("/admin"):
            return target
    return url_for("admin.index")


def _staff_key() -> str:
    return f"staff:{current_user.get_id()}"


@bp.route("/second-factor", methods=["GET", "POST"])
@limiter.limit("10/minute", key_func=_staff_key, methods=["POST"])
def second_factor() -> BaseResponse | tuple[str, int]:
    """Set up the authenticator app (first sign-in), or enter its current code."""
    staff = current_staff()
    assert staff is not None  # the blueprint lets only staff in
    target = _next_in_console(request.args.get("next"))
    if second_factor_done(staff):
        return redirect(target)
    form = SecondFactorForm()
    setting_up = staff.totp_secret is None
    if form.validate_on_submit():
        try:
            if setting_up:
                confirm_setup(staff, form.code.data or "")
                audit.record(Actor.staff(staff), "staff.second_factor_set_up")
            else:
                verify(staff, form.code.data or "")
        except SecondFactorError as error:
            form.code.errors = [*form.code.errors, error.message]
        else:
            db.session.commit()
            if setting_up:
                flash("Your authenticator app is set up: each sign-in asks for a code.", "success")
            return redirect(target)
    secret = pending_secret(staff) if setting_up else None
    status = 400 if form.is_submitted() and form.errors else 200
    return render_template(
        "admin/second_factor.html",
        form=form,
        secret=secret,
        uri=provisioning_uri(staff, secret) if secret else None,
    ), status


@bp.get("/audit")
def audit_log() -> str:
    """Every staff action, newest first."""
    return render_template("admin/audit.html", entries=audit.entries(limit=500))
