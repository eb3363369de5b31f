"""Dashboard views."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from ..plans import PLANS, PricingTier
from . import bp


@bp.get("/")
def index() -> str:
    if not current_user.is_authenticated:
        return render_template("home.html", free_limits=PLANS[PricingTier.FREE].limits)
    return render_template("dashboard/index.html", tenant=current_user.tenant)
