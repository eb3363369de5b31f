"""The Stripe webhook endpoint, as a blueprint any Flask app (the portal, the API) can mount."""

from __future__ import annotations

from flask import Blueprint

webhooks_bp = Blueprint("webhooks", __name__)

from . import routes  # noqa: E402,F401  (registers the views on webhooks_bp)
