"""Following an invite link: sign in or sign up, then join the team.

The page always offers both forms, whether or not the address has an account; a wrong
password reads exactly like a failed sign-in elsewhere.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from portal.auth.accounts import authenticate
from portal.errors import PortalError
from portal.extensions import db, limiter
from portal.teams import invites
from portal.teams.context import switch_to
from portal.teams.roles import ROLE_DESCRIPTIONS, Role
from portal.teams.views import bp

Page = Response | tuple[str, int]


def _page(opened: invites.OpenInvite, status: int = 200, **context: object) -> tuple[str, int]:
    role = Role(opened.invite.role)
    return (
        render_template(
            "teams/accept.html",
            invite=opened.invite,
            role=role,
            description=ROLE_DESCRIPTIONS[role],
            **context,
        ),
        status,
    )


def _invalid(error: PortalError) -> tuple[str, int]:
    return render_template("teams/invite_invalid.html", message=error.message), error.status_code


def _token_key() -> str:
    """The rate-limit key for "this invite": its link's token."""
    return "invite:" + str((request.view_args or {}).get("token", ""))[:400]


@bp.route("/invites/<token>", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
@limiter.limit("5/minute", key_func=_token_key, methods=["POST"])
def accept(token: str) -> Page:
    try:
        opened = invites.open_invite(token)
        if current_user.is_authenticated:
            invites.check_account(opened, current_user)
    except PortalError as error:
        return _invalid(error)
    if request.method == "GET":
        return _page(opened)
    action = request.form.get("action")
    password = (request.form.get("password") or "")[:1000]
    try:
        if current_user.is_authenticated:
            user = current_user._get_current_object()
        elif action == "signin":
            found = authenticate(opened.invite.email, password)
            if found is None:
                return _page(opened, 400, signin_error="That password does not match an account.")
            user = found
        elif action == "signup":
            if password != (request.form.get("confirm") or "")[:1000]:
                return _page(opened, 400, signup_error="The two passwords do not match.")
            try:
                user = invites.sign_up_invited(opened, password)
            except PortalError as error:
                return _page(opened, error.status_code, signup_error=error.message)
        else:
            return _page(opened, 400, signin_error="Choose to sign in or to create an account.")
        membership = invites.accept(opened, user)
    except invites.InviteError as error:
        db.session.rollback()
        return _invalid(error)
    if not current_user.is_authenticated:
        login_user(user)
    switch_to(user, membership.tenant_id)
    flash(f"Welcome to {membership.tenant.name}. Your role is {membership.role}.", "success")
    return redirect(url_for("dashboard.index"), 303)
