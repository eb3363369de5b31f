"""The role x route matrix, generated from the app's URL map.

Every endpoint must have a rule (``portal.teams.access.ACCESS``) or belong to the operator
console, which guards itself. Each route is then requested as each role and as a visitor:
a role the rule does not grant gets the role's 403 (a page, or JSON on /v1/), one it grants gets
past the check (whatever the view then answers, but no 500), a visitor is sent to sign in, and
the console is a 404 to every tenant role.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule as UrlRule
from werkzeug.routing.converters import NumberConverter

from portal.teams.access import ACCESS, MEMBER_NEED, PUBLIC_NEED, SIGNED_IN_NEED, is_staff_endpoint
from portal.teams.roles import Capability, Role, may
from tests.factory import PortalClient, sign_in_client

ROLES = [role.value for role in Role]
#: How every role refusal reads (``portal.teams.access.enforce``), on pages and in JSON.
ROLE_REFUSAL = "which does not include"
SAMPLE_VALUES = {"integer": "999999", "path": "css/portal.css"}


def _url(rule: UrlRule) -> str:
    values: dict[str, Any] = {}
    for name, converter in rule._converters.items():  # noqa: SLF001
        kind = "integer" if isinstance(converter, NumberConverter) else type(converter).__name__
        values[name] = SAMPLE_VALUES.get(kind.lower().replace("converter", ""), "x")
    return rule.build(values, append_unknown=False)[1]


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route of the app."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, _url(rule)))
    return sorted(found)


def test_every_route_has_a_rule(app: Flask) -> None:
    missing = [
        endpoint
        for endpoint, _, _ in routes(app)
        if endpoint not in ACCESS and not is_staff_endpoint(endpoint)
    ]
    assert missing == [], f"routes without an access rule in portal.teams.access: {missing}"
    stale = sorted(set(ACCESS) - {endpoint for endpoint, _, _ in routes(app)})
    assert stale == [], f"rules for routes that no longer exist: {stale}"


def test_a_route_without_a_rule_is_refused(app: Flask, factory) -> None:
    app.add_url_rule("/unruled", "unruled", lambda: "secret")
    owner = factory.account()
    response = owner.client.get("/unruled")
    assert response.status_code == 403
    assert b"secret" not in response.data


def _expected(endpoint: str, role: str | None) -> str:
    """``ok``, ``forbidden``, ``hidden`` (the console's 404) or ``sign_in``."""
    if is_staff_endpoint(endpoint):
        return "hidden"
    rule = ACCESS[endpoint]
    if role is None:
        if rule.anonymous:
            return "ok"
        return "sign_in"
    if rule.need in (PUBLIC_NEED, SIGNED_IN_NEED, MEMBER_NEED):
        return "ok"
    return "ok" if may(role, Capability(rule.need)) else "forbidden"


def _request(client: PortalClient, method: str, url: str, token: str) -> Any:
    headers = {"X-CSRFToken": token}
    if method == "GET":
        return client.get(url)
    if url.startswith("/v1/"):
        return client.open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={"csrf_token": token})


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "visitor"])
def test_role_route_matrix(app: Flask, factory, role: str | None) -> None:
    owner = factory.account(name="Acme")
    user_id = owner.user_id if role == "owner" else None
    if role not in (None, "owner"):
        user_id = factory.member(owner.tenant_id, role).user_id
    client = PortalClient(app, app.response_class, use_cookies=True)
    token = client.csrf_token("/login")
    wrong: list[str] = []
    for endpoint, method, url in routes(app):
        if user_id is not None:
            sign_in_client(client, user_id)  # a route such as /logout signs out
        response = _request(client, method, url, token)
        status = response.status_code
        expected = _expected(endpoint, role)
        refused_by_role = status == 403 and ROLE_REFUSAL in response.get_data(as_text=True)
        if expected == "forbidden":
            good = refused_by_role
            if good and url.startswith("/v1/"):
                good = "error" in (response.get_json(silent=True) or {})
        elif expected == "hidden":
            good = status == 404
        elif expected == "sign_in":
            good = status == 401 or (
                status == 302 and response.headers["Location"].startswith("/login")
            )
        else:
            # Past the check: the view answers (Stripe being unconfigured here is its 503;
            # a domain refusal such as overage on Free is its own 403, not the role's).
            good = not refused_by_role and (status < 500 or status == 503)
        if not good:
            wrong.append(f"{method} {url} ({endpoint}) as {role}: {status}, expected {expected}")
    assert wrong == [], "\n".join(wrong)


def test_a_refusal_is_an_html_page_or_json(app, factory) -> None:
    owner = factory.account(name="Acme")
    viewer = factory.member(owner.tenant_id, "viewer")
    page = viewer.client.get("/keys")
    assert page.status_code == 403
    assert page.mimetype == "text/html"
    assert "does not include API keys" in page.get_data(as_text=True)
    api = viewer.client.get("/v1/billing/subscription")
    assert api.status_code == 403
    assert api.mimetype == "application/json"
    assert "does not include billing" in api.get_json()["error"]


#: The issue's roles, written independently of ``ACCESS``: what each blueprint's pages are for.
#: owner: everything; billing: plans, checkout, cards, invoices, overage, usage; developer: API
#: keys and usage; viewer: usage only. Signing in, webhooks, assets and metrics are public.
SPEC_BY_BLUEPRINT = {
    "dashboard": Capability.USAGE,
    "keys": Capability.KEYS,
    "billing": Capability.BILLING,
    "teams": Capability.MEMBERS,
    "auth": PUBLIC_NEED,
    "webhooks": PUBLIC_NEED,
}
SPEC_EXCEPTIONS = {
    "static": PUBLIC_NEED,
    "metrics": PUBLIC_NEED,
    "teams.accept": PUBLIC_NEED,  # the invite link, opened signed out or in
    "teams.leave": MEMBER_NEED,  # every member may leave
    "teams.switch": SIGNED_IN_NEED,  # between one's own teams
    "teams.no_team": SIGNED_IN_NEED,
}


def test_the_rules_say_what_the_roles_promise(app: Flask) -> None:
    wrong = []
    for endpoint, _, _ in routes(app):
        if is_staff_endpoint(endpoint):
            continue
        spec = SPEC_EXCEPTIONS.get(endpoint) or SPEC_BY_BLUEPRINT.get(endpoint.partition(".")[0])
        if ACCESS[endpoint].need != spec:
            wrong.append(f"{endpoint}: rule {ACCESS[endpoint].need}, spec {spec}")
    assert wrong == [], "\n".join(wrong)
