"""The signed-in home page: the tenant's plan, limits and live usage."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import routes  # noqa: E402,F401
