"""The header's team switcher, and the page for someone who is in no team any more."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.teams.context import current_membership, switch_to
from portal.teams.views import bp


@bp.post("/team/switch")
def switch() -> Response | tuple[str, int]:
    raw = (request.form.get("tenant_id") or "").strip()
    membership = switch_to(current_user, int(raw)) if raw.isdigit() and len(raw) < 12 else None
    if membership is None:
        # Another team's id and a made-up one read the same.
        return (
            render_template(
                "errors/error.html",
                status=404,
                title="No such team",
                message="You are not a member of that team. Pick one from the menu.",
            ),
            404,
        )
    flash(f"You are now working in {membership.tenant.name} as {membership.role}.", "info")
    return redirect(url_for("dashboard.index"), 303)


@bp.get("/no-team")
def no_team() -> Response | str:
    if current_membership() is not None:
        return redirect(url_for("dashboard.index"))
    return render_template("teams/no_team.html")
