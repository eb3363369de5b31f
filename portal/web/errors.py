"""Error pages: the one place that maps domain errors and HTTP errors to responses.

API clients (``/v1/``, ``/api/`` and anything asking for JSON) get ``{"error": ...}``, browsers a
styled page.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError
from portal.extensions import db, login_manager

log = logging.getLogger("continuum.portal")


def wants_json() -> bool:
    path = request.path
    if path.startswith(("/v1/", "/api/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def error_response(status: int, title: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=message), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


_FRIENDLY = {
    400: "That request could not be understood. Check the form and try again.",
    403: "You do not have access to that.",
    404: "There is nothing at this address. It may have moved, or it was never here.",
    405: "That action is not allowed on this page.",
    413: "That request is too large. Forms and uploads are limited to 1 MB.",
    429: "Too many attempts. Wait a minute, then try again.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def handle_portal_error(error: PortalError):  # type: ignore[no-untyped-def]
        return error_response(error.status_code, "Something needs your attention", error.message)

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError):  # type: ignore[no-untyped-def]
        return error_response(
            400,
            "This form has expired",
            "The form's security token was missing or out of date. Go back, reload the page "
            "and submit it again.",
        )

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):  # type: ignore[no-untyped-def]
        status = error.code or 500
        message = _FRIENDLY.get(status, error.description or "")
        if status == 429 and error.description:
            message = f"Too many attempts ({error.description}). Wait a little, then try again."
        return error_response(status, error.name, message)

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError):  # type: ignore[no-untyped-def]
        log.error("database unreachable on %s %s: %s", request.method, request.path, error.orig)
        _rollback()
        # The layout asks who is signed in, which needs the database: render as signed out.
        # (Flask-Login keeps the request's user in g._login_user.)
        g._login_user = login_manager.anonymous_user()
        return error_response(
            503,
            "Temporarily unavailable",
            "We cannot reach our database right now. Nothing was changed; please try again in a "
            "minute.",
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        _rollback()
        return error_response(500, "Internal error", _FRIENDLY[500])


def _rollback() -> None:
    """Leave no half-written transaction behind an error (the database may be the error)."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        log.warning("rollback failed after an error", exc_info=True)
