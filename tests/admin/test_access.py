"""Who reaches the console: an authorization matrix over every /admin route from the URL map,
the TOTP second factor, and staff accounts without a tenant."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from portal import create_app
from portal.admin.access import STEP_SECONDS
from portal.extensions import db
from portal.models import AdminAudit, User, utcnow
from tests.conftest import base_test_config
from tests.factory import SIGNED_IN_PAGE, Factory, PortalClient, sign_in

#: What staff get from each console route and method, sent the minimal valid request. A route
#: missing here fails ``test_every_admin_route_has_a_rule``: a new route needs a decision.
STAFF_EXPECTS: dict[tuple[str, str], int] = {
    ("admin.index", "GET"): 200,
    ("admin.analytics_csv", "GET"): 200,
    ("admin.tenant_list", "GET"): 200,
    ("admin.tenant_detail", "GET"): 200,
    ("admin.enterprise", "GET"): 200,
    ("admin.enterprise", "POST"): 302,
    ("admin.limits", "GET"): 200,
    ("admin.limits", "POST"): 302,
    ("admin.standard_rules", "POST"): 302,
    ("admin.resync", "POST"): 400,  # the tenant has no Stripe customer: nothing to resync
    ("admin.revoke_keys", "POST"): 302,
    ("admin.inquiries", "GET"): 200,
    ("admin.inquiry_status", "POST"): 302,
    ("admin.audit_log", "GET"): 200,
    ("admin.second_factor", "GET"): 302,  # development: no code asked, straight on
    ("admin.second_factor", "POST"): 302,
}
VALID_FORMS: dict[str, dict[str, str]] = {
    "admin.enterprise": {"price_month": "2000", "starts_on": "2026-01-01"},
    "admin.limits": {"api_calls_per_day": "5000000"},
    "admin.revoke_keys": {"reason": "Leaked in a public repository"},
    "admin.inquiry_status": {"status": "contacted"},
}


def admin_routes() -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every console route, from the app's URL map."""
    app = create_app(base_test_config("sqlite://"))
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((rule.endpoint, method, rule.rule))
    return routes


ROUTES = admin_routes()


def test_every_admin_route_has_a_rule() -> None:
    assert {(endpoint, method) for endpoint, method, _ in ROUTES} == set(STAFF_EXPECTS)


def url_for_rule(rule: str, tenant_id: int, inquiry_id: int) -> str:
    values = {
        "<int:tenant_id>": str(tenant_id),
        "<int:inquiry_id>": str(inquiry_id),
        "<table_id>": "mrr-history",
    }
    for placeholder, value in values.items():
        rule = rule.replace(placeholder, value)
    assert "<" not in rule, f"the matrix has no value for a parameter of {rule}"
    return rule


def send(client: PortalClient, method: str, url: str, data: dict[str, str], token: str) -> Any:
    if method == "GET":
        return client.get(url)
    return client.post(url, data={**data, "csrf_token": token})


@pytest.mark.parametrize(("endpoint", "method", "rule"), ROUTES)
def test_authorization_matrix(
    app: Flask, factory: Factory, staff: PortalClient, endpoint: str, method: str, rule: str
) -> None:
    tenant = factory.account("enterprise", name="Matrix", key=True)
    inquiry = factory.inquiry(tenant.tenant_id)
    url = url_for_rule(rule, tenant.tenant_id, inquiry)
    data = VALID_FORMS.get(endpoint, {})

    anonymous = PortalClient(app, app.response_class, use_cookies=True)
    unknown = send(anonymous, method, "/admin/no-such-page", {}, anonymous.csrf_token("/login"))
    assert unknown.status_code == 404
    answer = send(anonymous, method, url, data, anonymous.csrf_token("/login"))
    assert answer.status_code == 404, "anonymous"
    # The same page as any unknown address (only the CSRF token in the sign-in form differs).
    assert "There is nothing at this address" in answer.get_data(as_text=True)
    assert "<title>Not Found" in answer.get_data(as_text=True)

    customer = tenant.client
    answer = send(customer, method, url, data, customer.csrf_token(SIGNED_IN_PAGE))
    assert answer.status_code == 404, "tenant user"
    assert "There is nothing at this address" in answer.get_data(as_text=True)

    answer = send(staff, method, url, data, staff.csrf_token("/admin/audit"))
    assert answer.status_code == STAFF_EXPECTS[(endpoint, method)], answer.get_data(as_text=True)
    if method == "GET" and answer.status_code == 200:
        assert answer.headers["Cache-Control"] == "no-store"


def code_at(secret: str, step_offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(utcnow().timestamp() + step_offset * STEP_SECONDS)


def test_first_sign_in_sets_up_totp_then_each_code_works_once(
    app: Flask, staff: PortalClient, staff_id: int
) -> None:
    app.config["ADMIN_REQUIRE_TOTP"] = True
    first = staff.get("/admin/tenants?q=x")
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/admin/second-factor?next=")
    page = staff.get(first.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Set up your authenticator app" in html
    secret = html.split('class="totp-secret">')[1].split("<")[0]
    assert len(secret) == 32

    token = staff.csrf_token("/admin/second-factor")
    wrong = staff.post("/admin/second-factor", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    assert staff.get("/admin/").status_code == 302  # still locked

    # The codes are fixed here, not re-read later: a test crossing a 30 s step boundary
    # must still replay the very code it used, and then offer the step after it.
    used, following = code_at(secret), code_at(secret, 1)
    done = staff.post(
        "/admin/second-factor?next=/admin/tenants?q=x",
        data={"code": used, "csrf_token": token},
    )
    assert done.status_code == 302 and done.headers["Location"] == "/admin/tenants?q=x"
    assert staff.get("/admin/").status_code == 200
    with app.app_context():
        user = db.session.get(User, staff_id)
        assert user is not None and user.totp_secret == secret
        assert (
            db.session.scalar(
                sa.select(AdminAudit.action).where(AdminAudit.actor_user_id == staff_id)
            )
            == "staff.second_factor_set_up"
        )

    # A new session asks for a code; the one just used is refused, the next one works.
    again = sign_in(app, staff_id)
    assert again.get("/admin/").status_code == 302
    page = again.get("/admin/second-factor")
    assert "Enter your code" in page.get_data(as_text=True)
    token = again.csrf_token("/admin/second-factor")
    replay = again.post("/admin/second-factor", data={"code": used, "csrf_token": token})
    assert replay.status_code == 400 and "already used" in replay.get_data(as_text=True)
    fresh = again.post("/admin/second-factor", data={"code": following, "csrf_token": token})
    assert fresh.status_code == 302
    assert again.get("/admin/").status_code == 200


def test_production_always_asks_for_the_second_factor(app: Flask, staff: PortalClient) -> None:
    assert staff.get("/admin/").status_code == 200  # development, not asked
    app.config["ENV_NAME"] = "production"
    answer = staff.get("/admin/")
    assert answer.status_code == 302 and "/admin/second-factor" in answer.headers["Location"]


def test_next_never_leaves_the_console(app: Flask, staff: PortalClient) -> None:
    answer = staff.get("/admin/second-factor?next=https://evil.example/admin")
    assert answer.headers["Location"] == "/admin/"


def test_staff_have_no_tenant_pages(staff: PortalClient) -> None:
    for path in ("/", "/keys", "/billing/", "/usage"):
        answer = staff.get(path)
        assert answer.status_code == 302 and answer.headers["Location"] == "/admin/", path
    missing = staff.get("/no-such-page")
    assert missing.status_code == 404  # the error page renders for a user without a tenant
    assert "Staff console" in staff.get("/admin/").get_data(as_text=True)
