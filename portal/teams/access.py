"""Who may open which route: one rule per endpoint, checked before every request.

``ACCESS`` names, for every endpoint of the app, what a person needs: nothing (``PUBLIC``),
to be signed in (``SIGNED_IN``), to be a member of their current team in any role
(``MEMBER``), or one capability of ``portal.teams.roles``. The operator console (``admin.*``)
is not in the table: its blueprint lets only staff in (``portal.admin.views._staff_only``).

An endpoint missing from the table is refused to everyone (and logged), and the role x route
test (``tests/teams/test_role_matrix.py``) walks the URL map so a new route without a rule
fails the suite. A refusal is the 403 page, or ``{"error": ...}`` on JSON routes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, flash, make_response, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.extensions import login_manager
from portal.teams.context import resolve_membership
from portal.teams.roles import CAPABILITY_WORDS, Capability, may
from portal.web.errors import error_response, wants_json

log = logging.getLogger("continuum.teams")

PUBLIC_NEED = "public"
SIGNED_IN_NEED = "signed in"
MEMBER_NEED = "member"


@dataclass(frozen=True)
class Rule:
    """What an endpoint needs. ``anonymous``: signed-out visitors pass and the view serves
    them its public face. ``api_key``: a request carrying an ``Authorization`` header is
    judged by its API key instead (``portal.billing.views.json_api.request_tenant``)."""

    need: Capability | str
    anonymous: bool = False
    api_key: bool = False


PUBLIC = Rule(PUBLIC_NEED, anonymous=True)
SIGNED_IN = Rule(SIGNED_IN_NEED)
MEMBER = Rule(MEMBER_NEED)
USAGE = Rule(Capability.USAGE)
KEYS = Rule(Capability.KEYS)
BILLING = Rule(Capability.BILLING)
BILLING_API = Rule(Capability.BILLING, api_key=True)
MEMBERS = Rule(Capability.MEMBERS)

#: Blueprints with their own, stricter guard (staff only); the matrix test checks it holds.
STAFF_BLUEPRINTS = frozenset({"admin"})

ACCESS: dict[str, Rule] = {
    # Signing in and out, assets, machine endpoints with their own authentication.
    "static": PUBLIC,
    "metrics": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.signup": PUBLIC,
    "auth.reset_request": PUBLIC,
    "auth.reset_password": PUBLIC,
    "webhooks.receive": PUBLIC,
    "webhooks.receive_thin": PUBLIC,
    "teams.accept": PUBLIC,
    # Usage: every role.
    "dashboard.index": Rule(Capability.USAGE, anonymous=True),
    "dashboard.usage_bars": USAGE,
    "dashboard.usage_page": USAGE,
    # API keys.
    "keys.index": KEYS,
    "keys.create": KEYS,
    "keys.revoke": KEYS,
    # Plans (public for visitors), checkout, cards, invoices, overage.
    "billing.upgrade": Rule(Capability.BILLING, anonymous=True),
    "billing.enterprise": Rule(Capability.BILLING, anonymous=True),
    "billing.index": BILLING,
    "billing.checkout": BILLING,
    "billing.checkout_success": BILLING,
    "billing.checkout_cancelled": BILLING,
    "billing.card_added": BILLING,
    "billing.change_plan": BILLING,
    "billing.cancel": BILLING,
    "billing.resume": BILLING,
    "billing.overage": BILLING,
    "billing.set_default_card": BILLING,
    "billing.remove_card": BILLING,
    "billing.add_card": BILLING,
    "billing.portal": BILLING,
    "billing.pay_now": BILLING,
    "billing.create_checkout_session": BILLING_API,
    "billing.subscription": BILLING_API,
    "billing.cancel_subscription": BILLING_API,
    "billing.get_overage": BILLING_API,
    "billing.put_overage": BILLING_API,
    "billing.report_usage": BILLING_API,
    # The team itself.
    "teams.members": MEMBERS,
    "teams.invite": MEMBERS,
    "teams.resend_invite": MEMBERS,
    "teams.revoke_invite": MEMBERS,
    "teams.change_role": MEMBERS,
    "teams.remove_member": MEMBERS,
    "teams.hand_over": MEMBERS,
    "teams.activity": MEMBERS,
    "teams.leave": MEMBER,
    "teams.switch": SIGNED_IN,
    "teams.no_team": SIGNED_IN,
}


def rule_for(endpoint: str) -> Rule | None:
    return ACCESS.get(endpoint)


def is_staff_endpoint(endpoint: str) -> bool:
    return endpoint.partition(".")[0] in STAFF_BLUEPRINTS


def may_open(endpoint: str) -> bool:
    """Whether the current visitor may open ``endpoint`` (the navigation asks)."""
    from portal.teams.context import current_role

    rule = rule_for(endpoint)
    if rule is None:
        return False
    if not current_user.is_authenticated:
        return rule.anonymous
    if isinstance(rule.need, Capability):
        return may(current_role(), rule.need)
    if rule.need == MEMBER_NEED:
        return current_role() is not None
    return True


def _refuse(status: int, title: str, message: str) -> Response:
    body, code = error_response(status, title, message)
    response: Response = make_response(body, code)
    return response


def enforce() -> Response | None:
    """The before-request check: resolve the current team, then apply the endpoint's rule."""
    endpoint = request.endpoint
    if endpoint is None or is_staff_endpoint(endpoint):
        return None  # werkzeug answers 404/405; the console guards itself
    rule = rule_for(endpoint)
    if rule is None:
        log.error("no access rule for endpoint %s: refused", endpoint)
        return _refuse(403, "Forbidden", "You do not have access to that.")
    if rule.need == PUBLIC_NEED and rule.anonymous:
        return None  # open to all, signed in or not: no need to load the person (webhooks)
    uses_key = rule.api_key and bool(request.headers.get("Authorization"))
    if not current_user.is_authenticated:
        if rule.anonymous or uses_key:
            return None
        if wants_json():
            return _refuse(401, "Sign in", "Sign in, or send an API key as 'Bearer ck_...'.")
        result: Response = login_manager.unauthorized()
        return result
    if rule.need in (PUBLIC_NEED, SIGNED_IN_NEED) or uses_key:
        return None  # the team, if a page shows it, is looked up when asked for
    membership, stale = resolve_membership(current_user._get_current_object())
    if stale:
        return _left_team()
    if membership is None:
        if getattr(current_user, "is_staff", False):
            return None  # the console's own hook sends staff without a team there
        if wants_json():
            return _refuse(403, "No team", "You are not a member of any team.")
        return redirect(url_for("teams.no_team"))
    if rule.need == MEMBER_NEED or (
        isinstance(rule.need, Capability) and may(membership.role, rule.need)
    ):
        return None
    words = CAPABILITY_WORDS[Capability(rule.need)]
    return _refuse(
        403,
        "Not part of your role",
        f"Your role in {membership.tenant.name} is {membership.role}, which does not include "
        f"{words}. An owner of the team can change your role.",
    )


def _left_team() -> Response:
    """The session's team no longer has this person: say so, and go to their other team."""
    message = "You are no longer a member of that team."
    if wants_json():
        return _refuse(403, "Not a member", message)
    flash(message, "warning")
    return redirect(url_for("dashboard.index"), 303)


def init_app(app: Flask) -> None:
    """Register the check after the other blueprints' hooks (the console's staff redirect)."""
    app.before_request(enforce)
