"""The team pages: members, invites, the activity log, the team switcher and accepting an
invite. Who may open each is declared in ``portal.teams.access.ACCESS``."""

from flask import Blueprint

bp = Blueprint("teams", __name__)

from portal.teams.views import accept, manage, switch  # noqa: E402,F401
