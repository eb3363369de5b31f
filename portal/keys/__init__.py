"""The API keys page: create, list and revoke a tenant's keys."""

from flask import Blueprint

bp = Blueprint("keys", __name__)

from . import routes  # noqa: E402,F401
