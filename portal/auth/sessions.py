"""What makes a signed-in session end, and what a signed-in page may leave behind.

The session lives in a signed cookie, so the server has to decide when a cookie it signed stops
counting:

- **Signing out ends every copy.** The cookie names the user's ``session_version`` (through
  ``User.get_id``); signing out bumps it, so a cookie copied before the sign-out is refused
  afterwards. (The version is per user: signing out signs that person out on every device.)
- **Idle timeout and absolute lifetime.** A session unused for ``IDLE_TIMEOUT`` or older than
  ``ABSOLUTE_LIFETIME`` is ended at its next request, whatever the cookie's own expiry says.
- **A fresh CSRF token at sign-in**, so a token seen by anyone before the sign-in is worthless.
- **No caching**: every response to a signed-in request is ``Cache-Control: no-store``, so no
  shared cache or back button shows one person's pages to the next.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, flash, g, request, session
from flask_login import logout_user, user_logged_in

from portal.extensions import db

IDLE_TIMEOUT = 12 * 60 * 60
ABSOLUTE_LIFETIME = 7 * 24 * 60 * 60
#: ``seen_at`` is rewritten at most this often, so not every request re-sends the cookie.
SEEN_RESOLUTION = 60

SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
#: Where Flask-Login keeps the signed-in user's id, and Flask-WTF the CSRF secret.
_USER_ID = "_user_id"
_CSRF = "csrf_token"


def end_everywhere(user: Any) -> None:
    """Make every session cookie issued to ``user`` so far stop working, then sign this one
    out. Called by the sign-out view."""
    user.session_version = (user.session_version or 0) + 1
    db.session.commit()
    logout_user()


def _on_sign_in(sender: Flask, user: Any, **extra: Any) -> None:
    now = int(time.time())
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now
    # A new CSRF secret: a token issued before the sign-in (to anyone) no longer verifies.
    session.pop(_CSRF, None)
    g.pop(_CSRF, None)


def expired(signed_in_at: object, seen_at: object, now: float) -> bool:
    """Whether a session signed in at ``signed_in_at`` and last used at ``seen_at`` is over."""
    if not isinstance(signed_in_at, int) or not isinstance(seen_at, int):
        return True  # a session from before these rules, or tampered with: sign in again
    return now - signed_in_at > ABSOLUTE_LIFETIME or now - seen_at > IDLE_TIMEOUT


def _check_session() -> None:
    if _USER_ID not in session or request.endpoint == "static":
        return
    now = time.time()
    if expired(session.get(SIGNED_IN_AT), session.get(SEEN_AT), now):
        logout_user()
        session.clear()
        flash("Your session ended. Sign in again to continue.", "info")
        return
    if now - int(session[SEEN_AT]) >= SEEN_RESOLUTION:
        session[SEEN_AT] = int(now)


def _no_store(response: Response) -> Response:
    if _USER_ID in session and request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    user_logged_in.connect(_on_sign_in, app)
    app.before_request(_check_session)
    app.after_request(_no_store)
