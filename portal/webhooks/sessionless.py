"""Stripe's deliveries get an empty session without Flask's cookie machinery.

Flask opens the signed-cookie session of every request before it knows the view: it builds
the signer, looks for the cookie, and verifies it if there is one. A webhook delivery carries
no cookie (Stripe sends none) and nothing on its way reads or writes the session, so on the
webhook paths the session is a fresh empty one, opened without signer or cookie. A cookie a
browser might send there is ignored, never loaded. If anything wrote to that session, it
would be saved as for any request.

Installed by the webhook blueprint when it is registered (``install``), on an app that uses
Flask's default session interface; an app with its own interface keeps it as it is.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.blueprints import BlueprintSetupState
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class SessionlessPaths(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except on ``paths``: an empty session, cookie unread."""

    def __init__(self, paths: frozenset[str]) -> None:
        self.paths = paths

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path in self.paths:
            return self.session_class()
        return super().open_session(app, request)


def install(state: BlueprintSetupState) -> None:
    """On the app the blueprint was just registered on: its routes' paths skip the session."""
    app = state.app
    if not isinstance(app, Flask):
        return
    interface = app.session_interface
    paths = frozenset(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{state.name}.") and "<" not in rule.rule
    )
    if isinstance(interface, SessionlessPaths):
        interface.paths |= paths
    elif type(interface) is SecureCookieSessionInterface:
        app.session_interface = SessionlessPaths(paths)
