"""What every page's layout needs: the main navigation, checks for optional pages, and
whether an htmx request wants the whole page or only one component of it.

Links are listed by endpoint and shown only once that endpoint is registered, so the layout
never breaks while a blueprint is absent (e.g. an app built for one blueprint's tests).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request, url_for
from flask_login import current_user

#: (label, endpoint) of the signed-in navigation, in display order.
SIGNED_IN_NAV = (
    ("Dashboard", "dashboard.index"),
    ("Usage", "dashboard.usage_page"),
    ("API keys", "keys.index"),
    ("Billing", "billing.index"),
    ("Plans", "billing.upgrade"),
    ("Team", "teams.members"),
)
#: Staff (the operator console) have no tenant pages of their own.
STAFF_NAV = (("Staff console", "admin.index"),)
SIGNED_OUT_NAV = (
    ("Plans", "billing.upgrade"),
    ("Sign in", "auth.login"),
    ("Sign up", "auth.signup"),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    active: bool


def nav_links() -> list[NavLink]:
    """The navigation for the current visitor, with the current section marked active."""
    entries: tuple[tuple[str, str], ...] = (
        SIGNED_IN_NAV if current_user.is_authenticated else SIGNED_OUT_NAV
    )
    if getattr(current_user, "is_staff", False) and not current_user.memberships:
        entries = STAFF_NAV
    present = [(label, ep) for label, ep in entries if has_endpoint(ep) and _allowed(ep)]
    endpoint = request.endpoint or ""
    exact = any(ep == endpoint for _, ep in present)
    active = endpoint if exact else _section_of(endpoint, present)
    return [NavLink(label, url_for(ep), ep == active) for label, ep in present]


def _allowed(endpoint: str) -> bool:
    """Whether the visitor's role opens ``endpoint`` (every link when teams are absent)."""
    if "teams.members" not in current_app.view_functions:
        return True
    from portal.teams.access import may_open

    return may_open(endpoint)


def _section_of(endpoint: str, present: list[tuple[str, str]]) -> str | None:
    """The first link of the same blueprint: /billing/invoices belongs under Billing."""
    blueprint = endpoint.partition(".")[0]
    return next((ep for _, ep in present if ep.partition(".")[0] == blueprint), None)


def has_endpoint(endpoint: str) -> bool:
    """Whether a view is registered, for links to pages another blueprint serves."""
    return endpoint in current_app.view_functions


def is_component_request() -> bool:
    """An htmx request from a component on the page (boosted navigations want the page)."""
    return request.headers.get("HX-Request") == "true" and "HX-Boosted" not in request.headers


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(nav_links=nav_links, has_endpoint=has_endpoint)
