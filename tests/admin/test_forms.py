"""Every console form refuses a missing CSRF token and bad input with a 4xx and a message, and
changes nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import AdminAudit, ApiKey, EnterpriseContract, EnterpriseInquiry, Tenant, User
from tests.factory import Factory, PortalClient

LONG = "x" * 5001


def snapshot(app: Flask) -> dict[str, Any]:
    """Everything a console form could change."""
    with app.app_context():
        session = db.session
        return {
            "tenants": session.execute(
                sa.select(
                    Tenant.id, Tenant.tier, Tenant.limit_overrides, Tenant.tier_version
                ).order_by(Tenant.id)
            ).all(),
            "contracts": session.scalar(sa.select(sa.func.count(EnterpriseContract.id))),
            "active_keys": session.scalar(
                sa.select(sa.func.count(ApiKey.id)).where(ApiKey.revoked_at.is_(None))
            ),
            "audit": session.scalar(sa.select(sa.func.count(AdminAudit.id))),
            "inquiries": session.execute(
                sa.select(EnterpriseInquiry.id, EnterpriseInquiry.status)
            ).all(),
            "secrets": session.execute(sa.select(User.id, User.totp_secret)).all(),
        }


@pytest.fixture
def seeded(factory: Factory) -> dict[str, int]:
    ent = factory.account("enterprise", name="Ent", key=True).tenant_id
    free = factory.account("free", name="Freeman", key=True).tenant_id
    return {"ent": ent, "free": free, "inquiry": factory.inquiry(free)}


#: (path template, data, the message the page must show) for each refused submission.
BAD_INPUT: list[tuple[str, dict[str, str], str]] = [
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "abc", "starts_on": "2026-01-01"},
        "Enter the monthly price in dollars",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "-5", "starts_on": "2026-01-01"},
        "Enter the monthly price in dollars",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "12.345", "starts_on": "2026-01-01"},
        "Enter the monthly price in dollars",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000000", "starts_on": "2026-01-01"},
        "between $0 and $1,000,000",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000"},
        "Enter the day the contract starts",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000", "starts_on": "2026-13-45"},
        "Not a valid date value",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000", "starts_on": "2026-05-01", "ends_on": "2026-04-30"},
        "cannot end before it starts",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000", "starts_on": "2026-01-01", "api_calls_per_day": "0"},
        "API calls per day must be a whole number from 1",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000", "starts_on": "2026-01-01", "memories": "1e5"},
        "Memories must be a whole number",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000", "starts_on": "2026-01-01", "storage_mb": "9" * 14},
        "Storage (MB) must be a whole number",
    ),
    (
        "/admin/tenants/{free}/enterprise",
        {"price_month": "2000", "starts_on": "2026-01-01", "notes": LONG},
        "Notes are at most",
    ),
    (
        "/admin/tenants/{ent}/limits",
        {"api_calls_per_minute": "-1"},
        "API calls per minute must be a whole number",
    ),
    (
        "/admin/tenants/{ent}/limits",
        {"concurrent_requests": "ten"},
        "Concurrent requests must be a whole number",
    ),
    (
        "/admin/tenants/{free}/limits",
        {"api_calls_per_day": "5000"},
        "make the tenant Enterprise first",
    ),
    ("/admin/tenants/{free}/standard-rules", {}, "already follows the Free/Pro rules"),
    ("/admin/tenants/{free}/resync", {}, "no Stripe customer yet"),
    ("/admin/tenants/{ent}/revoke-keys", {"reason": "   "}, "Say why the keys are revoked"),
    ("/admin/tenants/{ent}/revoke-keys", {"reason": "x" * 501}, "Keep the reason under 500"),
    ("/admin/requests/{inquiry}/status", {"status": "archived"}, "Choose new, contacted, won"),
    ("/admin/requests/{inquiry}/status", {}, "Choose a status"),
    ("/admin/second-factor", {"code": "12ab56"}, "Enter the 6-digit code"),
    ("/admin/second-factor", {"code": "123456"}, "does not match"),
    ("/admin/tenants/999999/limits", {"api_calls_per_day": "5"}, "no tenant with that number"),
]
FORMS = sorted({path for path, _, _ in BAD_INPUT})


@pytest.mark.both_dbs
@pytest.mark.parametrize("path", FORMS)
def test_forms_refuse_a_missing_csrf_token(
    app: Flask, staff: PortalClient, seeded: dict[str, int], db_backend: str, path: str
) -> None:
    app.config["ADMIN_REQUIRE_TOTP"] = path == "/admin/second-factor"
    before = snapshot(app)
    valid = {
        "price_month": "2000",
        "starts_on": "2026-01-01",
        "api_calls_per_day": "5000",
        "reason": "leaked",
        "status": "won",
        "code": "123456",
    }
    answer = staff.post(path.format(**seeded), data=valid)
    assert answer.status_code == 400
    assert "security token was missing" in answer.get_data(as_text=True)
    assert snapshot(app) == before


@pytest.mark.both_dbs
@pytest.mark.parametrize(("path", "data", "message"), BAD_INPUT)
def test_forms_refuse_bad_input(
    app: Flask,
    staff: PortalClient,
    seeded: dict[str, int],
    db_backend: str,
    path: str,
    data: dict[str, str],
    message: str,
) -> None:
    app.config["ADMIN_REQUIRE_TOTP"] = path == "/admin/second-factor"
    before = snapshot(app)
    token = staff.csrf_token("/admin/second-factor" if "second" in path else "/admin/audit")
    answer = staff.post(path.format(**seeded), data={**data, "csrf_token": token})
    assert 400 <= answer.status_code < 500
    assert message in answer.get_data(as_text=True)
    assert snapshot(app) == before
