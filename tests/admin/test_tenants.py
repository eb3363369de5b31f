"""Tenants in the console and the shell: search, the detail page, contracts, overrides, the
return to the Free/Pro rules, revoking keys, enterprise requests, and the audit log of each."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from portal.admin import analytics as rev
from portal.extensions import db
from portal.models import (
    AdminAudit,
    ApiKey,
    EnterpriseContract,
    EnterpriseInquiry,
    Invoice,
    StripeEvent,
    Tenant,
    User,
    utcnow,
)
from tests.factory import PASSWORD, Factory, PortalClient


def post(staff: PortalClient, path: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return staff.post(path, data={**(data or {}), "csrf_token": staff.csrf_token("/admin/audit")})


def audit_rows(app: Flask, tenant_id: int | None = None) -> list[AdminAudit]:
    with app.app_context():
        query = sa.select(AdminAudit).order_by(AdminAudit.id)
        if tenant_id is not None:
            query = query.where(AdminAudit.tenant_id == tenant_id)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def tenant_row(app: Flask, tenant_id: int) -> Tenant:
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None
        db.session.expunge(tenant)
        return tenant


def test_search_and_filters(staff: PortalClient, factory: Factory) -> None:
    acme = factory.account("pro", name="Acme", customer_id="cus_acme").tenant_id
    factory.subscription(acme, "past_due", past_due_since=utcnow())
    factory.account("free", email="zed@zeta.example")
    factory.account("enterprise", name="Bigco")

    def names(query: str) -> list[str]:
        html = staff.get(f"/admin/tenants?{query}").get_data(as_text=True)
        return [n for n in ("Acme", "zed@zeta.example", "Bigco") if f">{n}</a>" in html]

    assert names("") == ["Acme", "zed@zeta.example", "Bigco"]
    assert names("q=ZETA") == ["zed@zeta.example"]  # an owner's email, any case
    assert names("q=acme@example") == ["Acme"]
    assert names("q=cus_acme") == ["Acme"]  # the Stripe customer id
    assert names("q=%25") == []  # a LIKE wildcard is a character, not a pattern
    assert names("tier=enterprise") == ["Bigco"]
    assert names("status=past_due") == ["Acme"]
    assert names("status=none&tier=free") == ["zed@zeta.example"]
    assert staff.get("/admin/tenants?page=abc&tier=bogus").status_code == 200


def test_detail_page(app: Flask, staff: PortalClient, factory: Factory) -> None:
    account = factory.account("pro", name="Detail", customer_id="cus_detail", key=True)
    sub = factory.subscription(account.tenant_id)
    factory.usage(account.tenant_id, "api_calls", 1234)
    factory.invoice(
        account.tenant_id, subscription_id=sub.stripe_subscription_id, invoice_id="in_1"
    )
    with app.app_context():
        db.session.add(
            StripeEvent(
                id="evt_1",
                type="invoice.paid",
                created=1_700_000_000,
                processed_at=utcnow(),
                tenant_id=account.tenant_id,
            )
        )
        invoice = db.session.get(Invoice, "in_1")
        assert invoice is not None
        invoice.hosted_invoice_url = "https://invoice.stripe.com/i/in_1"
        db.session.commit()
    html = staff.get(f"/admin/tenants/{account.tenant_id}").get_data(as_text=True)
    for expected in (
        "Detail",
        "cus_detail",
        sub.stripe_subscription_id,
        "1 active of 1",
        "detail@example.com",
        "https://invoice.stripe.com/i/in_1",
        "evt_1",
        "invoice.paid",
        "1,234",
        "API calls per day",
    ):
        assert expected in html, expected
    assert staff.get("/admin/tenants/99999").status_code == 404


def test_make_enterprise_change_contract_and_return_to_rules(
    app: Flask, staff: PortalClient, factory: Factory, staff_id: int
) -> None:
    tenant_id = factory.account("pro").tenant_id
    factory.subscription(tenant_id, started_at=utcnow() - timedelta(days=40))
    inquiry = factory.inquiry(tenant_id, company="Zeta Corp")
    form = staff.get(f"/admin/tenants/{tenant_id}/enterprise?inquiry={inquiry}")
    assert "From request #1 (Zeta Corp" in form.get_data(as_text=True)

    made = post(
        staff,
        f"/admin/tenants/{tenant_id}/enterprise",
        {
            "price_month": "2,000",
            "starts_on": str(utcnow().date() - timedelta(days=1)),
            "notes": "Three-year deal",
            "api_calls_per_day": "5,000,000",
            "memories": "",
        },
    )
    assert made.status_code == 302
    tenant = tenant_row(app, tenant_id)
    assert tenant.tier == "enterprise"
    assert tenant.limit_overrides == {"api_calls_per_day": 5_000_000}
    assert tenant.limits.api_calls_per_day == 5_000_000
    [row] = audit_rows(app, tenant_id)
    assert (row.action, row.actor, row.actor_user_id) == (
        "tenant.made_enterprise",
        "staff@continuum.example",
        staff_id,
    )
    assert row.before == {"tier": "pro", "limit_overrides": None}
    assert row.after["contract"]["price_month_cents"] == 200_000  # type: ignore[index]

    changed = post(
        staff,
        f"/admin/tenants/{tenant_id}/enterprise",
        {
            "price_month": "2500",
            "starts_on": str(utcnow().date() - timedelta(days=1)),
            "api_calls_per_day": "6000000",
        },
    )
    assert changed.status_code == 302
    with app.app_context():
        terms = list(
            db.session.scalars(sa.select(EnterpriseContract).order_by(EnterpriseContract.id))
        )
        assert [(t.price_month_cents, t.replaced_at is None) for t in terms] == [
            (200_000, False),
            (250_000, True),
        ]
        money = rev.Revenue.load(db.session, timedelta(days=7), utcnow())
    # The Pro subscription still runs beside the contract: $29 + $2,500 now.
    assert money.mrr(utcnow()) == Decimal(252_900)
    assert money.mrr(terms[1].effective_from - timedelta(seconds=1)) == Decimal(202_900)
    assert "also has a live self-serve subscription" in staff.get(
        f"/admin/tenants/{tenant_id}"
    ).get_data(as_text=True)

    limits = post(
        staff,
        f"/admin/tenants/{tenant_id}/limits",
        {"api_calls_per_day": "", "api_calls_per_minute": "5000"},
    )
    assert limits.status_code == 302
    assert tenant_row(app, tenant_id).limit_overrides == {"api_calls_per_minute": 5000}

    back = post(staff, f"/admin/tenants/{tenant_id}/standard-rules")
    assert back.status_code == 302
    tenant = tenant_row(app, tenant_id)
    assert (tenant.tier, tenant.limit_overrides) == ("pro", None)  # its subscription still pays
    assert [r.action for r in audit_rows(app, tenant_id)] == [
        "tenant.made_enterprise",
        "contract.changed",
        "limits.changed",
        "tenant.standard_rules",
    ]


def test_revoke_all_keys_with_a_reason(app: Flask, staff: PortalClient, factory: Factory) -> None:
    account = factory.account("pro", key=True)
    factory.key(account.tenant_id, "second")
    answer = post(
        staff,
        f"/admin/tenants/{account.tenant_id}/revoke-keys",
        {"reason": "Keys leaked on a public repository"},
    )
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(ApiKey.revoked_at.is_(None))) == 0
    [row] = audit_rows(app, account.tenant_id)
    assert row.action == "keys.revoked_all"
    assert row.reason == "Keys leaked on a public repository"
    assert len(row.before["active_keys"]) == 2  # type: ignore[index]
    assert "Keys leaked on a public repository" in staff.get("/admin/audit").get_data(as_text=True)


def test_enterprise_requests_inbox(app: Flask, staff: PortalClient, factory: Factory) -> None:
    tenant_id = factory.account("free", name="Lead").tenant_id
    linked = factory.inquiry(tenant_id, company="Lead Ltd")
    stranger = factory.inquiry(None, company="Anon GmbH", email="anon@gmbh.example")
    html = staff.get("/admin/requests").get_data(as_text=True)
    assert f"/admin/tenants/{tenant_id}/enterprise?inquiry={linked}" in html
    assert "/admin/tenants?q=anon@gmbh.example" in html
    answer = post(staff, f"/admin/requests/{stranger}/status", {"status": "won"})
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.get(EnterpriseInquiry, stranger).status == "won"  # type: ignore[union-attr]
    [row] = audit_rows(app)
    assert (row.action, row.before, row.after) == (
        "request.status_changed",
        {"request": stranger, "status": "new"},
        {"request": stranger, "status": "won"},
    )
    won = staff.get("/admin/requests?status=won").get_data(as_text=True)
    assert "Anon GmbH" in won and "Lead Ltd" not in won


def test_shell_commands(app: Flask, runner: FlaskCliRunner, factory: Factory) -> None:
    created = runner.invoke(
        args=["admin", "create", "ops@continuum.example"], input=PASSWORD + "\n"
    )
    assert created.exit_code == 0, created.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "ops@continuum.example"))
        assert user is not None and user.is_staff and not user.memberships
    weak = runner.invoke(args=["admin", "create", "weak@continuum.example"], input="short\n")
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    again = runner.invoke(args=["admin", "create", "ops@continuum.example"], input=PASSWORD + "\n")
    assert again.exit_code == 1 and "already has an account" in again.output

    tenant_id = factory.account("free", email="cli@example.com").tenant_id
    made = runner.invoke(
        args=[
            "tenants",
            "set-enterprise",
            "cli@example.com",
            "--price-month",
            "2000",
            "--api-calls-per-day",
            "5000000",
            "--notes",
            "by phone",
        ]
    )
    assert made.exit_code == 0, made.output
    assert "* API calls per day: 5,000,000" in made.output
    limits = runner.invoke(
        args=[
            "tenants",
            "set-limits",
            "cli@example.com",
            "--api-calls-per-day",
            "default",
            "--concurrent-requests",
            "250",
        ]
    )
    assert limits.exit_code == 0, limits.output
    assert tenant_row(app, tenant_id).limit_overrides == {"concurrent_requests": 250}
    shown = runner.invoke(args=["tenants", "show", "cli@example.com"])
    assert "tier: enterprise" in shown.output and "contract: $2,000.00/month" in shown.output
    assert "* Concurrent requests: 250" in shown.output
    actions = [(r.action, r.actor.startswith("shell (")) for r in audit_rows(app)]
    assert actions == [
        ("staff.created", True),
        ("tenant.made_enterprise", True),
        ("limits.changed", True),
    ]

    bad = runner.invoke(args=["tenants", "set-limits", "cli@example.com", "--memories", "lots"])
    assert bad.exit_code == 2 and "not a whole number" in bad.output
    nobody = runner.invoke(args=["tenants", "show", "nobody@example.com"])
    assert nobody.exit_code == 1 and "No tenant has a member" in nobody.output
    free = factory.account("free", email="free@example.com")
    refused = runner.invoke(args=["tenants", "set-limits", "free@example.com", "--memories", "5"])
    assert refused.exit_code == 1 and "make the tenant Enterprise first" in refused.output
    assert tenant_row(app, free.tenant_id).limit_overrides is None
