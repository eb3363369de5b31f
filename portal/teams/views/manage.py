"""The owner's team page (/team): members and their roles, invites, removal, handover, and
the activity log. A refused form re-renders the page with its message and a 4xx status."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.db import utcnow
from portal.errors import PortalError
from portal.extensions import limiter
from portal.teams import activity, invites, members
from portal.teams.context import current_membership, current_tenant
from portal.teams.roles import ASSIGNABLE_ROLES, ROLE_DESCRIPTIONS, Role
from portal.teams.views import bp

Page = Response | tuple[str, int]


def _form_int(name: str) -> int | None:
    value = (request.form.get(name) or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else None


def render_team(status: int = 200, **context: Any) -> tuple[str, int]:
    tenant = current_tenant()
    return (
        render_template(
            "teams/members.html",
            tenant=tenant,
            me=current_membership(),
            members=members.members_of(tenant),
            invites=invites.pending_invites(tenant),
            roles=ASSIGNABLE_ROLES,
            descriptions=ROLE_DESCRIPTIONS,
            owner=Role.OWNER,
            now=utcnow(),
            **context,
        ),
        status,
    )


def _refused(error: PortalError, **context: Any) -> tuple[str, int]:
    return render_team(error.status_code, error=error.message, **context)


def _done(message: str, tone: str = "success") -> Response:
    flash(message, tone)
    return redirect(url_for("teams.members"), 303)


@bp.get("/team", endpoint="members")
def members_page() -> tuple[str, int]:
    return render_team()


@bp.post("/team/invites")
@limiter.limit("30/hour", methods=["POST"])
def invite() -> Page:
    email = (request.form.get("email") or "")[:1000]
    role = request.form.get("role")
    try:
        created = invites.create_invite(current_tenant(), current_user, email, role)
    except PortalError as error:
        return _refused(error, invite_email=email, invite_role=role)
    if invites.send_invite(created):
        return _done(f"Invite sent to {created.email}. The link works for 7 days.")
    return _done(
        f"The invite to {created.email} is saved, but the email could not be sent. "
        "Try “Resend” in a few minutes.",
        "warning",
    )


@bp.post("/team/invites/<int:invite_id>/resend")
@limiter.limit("30/hour", methods=["POST"])
def resend_invite(invite_id: int) -> Page:
    try:
        resent = invites.resend_invite(current_tenant(), current_user, invite_id)
    except PortalError as error:
        return _refused(error)
    if invites.send_invite(resent):
        return _done(f"A new link went to {resent.email}; the old one no longer works.")
    return _done(f"The email to {resent.email} could not be sent. Try again later.", "warning")


@bp.post("/team/invites/<int:invite_id>/revoke")
def revoke_invite(invite_id: int) -> Page:
    try:
        revoked = invites.revoke_invite(current_tenant(), current_user, invite_id)
    except PortalError as error:
        return _refused(error)
    return _done(f"The invite to {revoked.email} is revoked; its link no longer works.")


@bp.post("/team/members/<int:membership_id>/role")
def change_role(membership_id: int) -> Page:
    try:
        changed = members.change_role(
            current_tenant(), current_user, membership_id, request.form.get("role")
        )
    except PortalError as error:
        return _refused(error)
    return _done(f"{changed.user.email} is now {changed.role}.")


@bp.route("/team/members/<int:membership_id>/remove", methods=["GET", "POST"])
def remove_member(membership_id: int) -> Page:
    """GET asks (listing the keys they made); POST removes, revoking them if ticked."""
    tenant = current_tenant()
    try:
        target = members.get_member(tenant, membership_id)
    except PortalError as error:
        return _refused(error)
    if request.method == "POST":
        try:
            removal = members.remove_member(
                tenant,
                current_user,
                membership_id,
                revoke_keys=request.form.get("revoke_keys") == "yes",
            )
        except PortalError as error:
            return _refused(error)
        revoked = (
            f" and revoked {removal.keys_revoked} API key(s) they made"
            if removal.keys_revoked
            else ""
        )
        return _done(f"Removed {removal.email}{revoked}. They lose access at their next click.")
    keys = members.active_keys_made_by(tenant, target.user_id)
    return render_template("teams/remove.html", target=target, keys=keys), 200


@bp.post("/team/hand-over")
@limiter.limit("10/hour", methods=["POST"])
def hand_over() -> Page:
    target_id = _form_int("membership_id")
    try:
        if target_id is None:
            raise PortalError("Pick the member who becomes the owner.")
        target = members.hand_over(
            current_tenant(),
            current_user,
            target_id,
            request.form.get("password") or "",
            request.form.get("own_role"),
        )
    except PortalError as error:
        return _refused(error, handover_error=True)
    flash(f"{target.user.email} is now the owner of {target.tenant.name}.", "success")
    return redirect(url_for("dashboard.index"), 303)


@bp.get("/team/activity", endpoint="activity")
def activity_page() -> tuple[str, int]:
    tenant = current_tenant()
    before = request.args.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 12 else None
    entries = activity.recent(tenant.id, before_id)
    return (
        render_template(
            "teams/activity.html",
            tenant=tenant,
            entries=entries,
            describe=activity.describe,
            more=len(entries) == activity.PAGE_SIZE,
        ),
        200,
    )


@bp.route("/team/leave", methods=["GET", "POST"])
def leave() -> Page:
    tenant = current_tenant()
    if request.method == "POST":
        try:
            if request.form.get("confirm") != "yes":
                raise PortalError("Confirm that you want to leave with the button below.")
            members.leave(tenant, current_user)
        except PortalError as error:
            return render_template("teams/leave.html", tenant=tenant, error=error.message), (
                error.status_code
            )
        flash(f"You left {tenant.name}.", "success")
        return redirect(url_for("dashboard.index"), 303)
    return render_template("teams/leave.html", tenant=tenant, error=None), 200
