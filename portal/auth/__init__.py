"""Sign-up, sign-in, sign-out and password reset pages."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import routes  # noqa: E402,F401
