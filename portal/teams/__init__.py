"""Teams: several people per tenant with roles, several tenants per person.

- ``roles``: the four roles and the capabilities each grants;
- ``access``: the rule every endpoint has, checked before each request;
- ``context``: the session's current team (``current_tenant()``);
- ``invites``, ``members``, ``activity``: the domain; ``views``: the pages.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, session
from flask_login import current_user, user_logged_in, user_logged_out


def init_app(app: Flask) -> None:
    """Register the pages, the per-request access check and the header's team data.
    Called after the other blueprints, so the console's staff redirect runs first."""
    from portal.teams import access
    from portal.teams import models as _models  # noqa: F401  (the tables)
    from portal.teams.views import bp

    app.register_blueprint(bp)
    access.init_app(app)
    # A sign-in or sign-out starts without a current team: the next person to sign in on
    # this browser must not inherit the previous one's.
    user_logged_in.connect(_forget_team, app)
    user_logged_out.connect(_forget_team, app)
    # Templates link to a page only when it exists and the visitor's role opens it.
    app.jinja_env.globals["has_endpoint"] = _linkable

    @app.context_processor
    def _team_context() -> dict[str, Any]:
        return {"team_switcher": _switcher, "may_open": access.may_open}


def _switcher() -> dict[str, Any] | None:
    """The current team and the others the signed-in person can switch to."""
    from portal.teams.context import current_membership, teams_of

    if not current_user.is_authenticated:
        return None
    current = current_membership()
    if current is None:
        return None
    return {"current": current, "teams": teams_of(current_user._get_current_object())}


def _linkable(endpoint: str) -> bool:
    from portal.teams.access import is_staff_endpoint, may_open
    from portal.web.layout import has_endpoint

    if not has_endpoint(endpoint):
        return False
    return is_staff_endpoint(endpoint) or may_open(endpoint)


def _forget_team(sender: Flask, **extra: Any) -> None:
    from portal.teams.context import SESSION_KEY

    session.pop(SESSION_KEY, None)
