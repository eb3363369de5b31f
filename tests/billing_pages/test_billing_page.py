"""The billing page in every state a tenant can be in, and when Stripe cannot be reached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from billing_support import give_customer, use_simulator
from flask import Flask

from portal.models import utcnow
from portal.plans import PLANS, PricingTier
from portal.web.formatting import format_date_tz, format_price
from tests.factory import Account, Factory
from tests.outage import stripe_unreachable

PRO = PLANS[PricingTier.PRO]


def test_free_tenant_sees_an_upgrade_state_without_any_stripe_call(account: Account) -> None:
    # The default test config has no Stripe key: any Stripe call would fail this page.
    response = account.client.get("/billing/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "You're on <strong>Free</strong>" in html
    assert 'href="/billing/upgrade"' in html
    assert "Payment methods" not in html and "Invoices" not in html
    assert "billing portal" not in html
    assert "unavailable" not in html


def test_billing_page_needs_a_signed_in_user(app: Flask) -> None:
    response = app.test_client().get("/billing/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_enterprise_contract_is_described_without_stripe(account: Account) -> None:
    with account.app.app_context():
        tenant = account.tenant()
        tenant.set_tier(PricingTier.ENTERPRISE)
        from portal.extensions import db

        db.session.commit()
    html = account.client.get("/billing/").get_data(as_text=True)
    assert "Enterprise</strong> contract" in html


class TestWithStripe:
    """States of a tenant with a Stripe customer (the simulator) and a mirrored subscription."""

    @pytest.fixture
    def app_config(self, app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
        return use_simulator(app_config, sim)

    @pytest.fixture
    def customer(self, account: Account, sim: Any) -> list[str]:
        return give_customer(account, sim, cards=1)

    def page(self, account: Account) -> str:
        response = account.client.get("/billing/")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def test_active(self, account: Account, customer: list[str], factory: Factory) -> None:
        sub = factory.subscription(account.tenant_id, "active", interval="month")
        html = self.page(account)
        assert "Your plan: Pro" in html and ">Active<" in html
        assert f"renews on <strong>{format_date_tz(sub.current_period_end)}</strong>" in html
        assert f"for {format_price(PRO.monthly_price)}" in html
        assert "(UTC)" in html
        assert "Switch to yearly billing" in html and "Cancel plan" in html
        assert "Visa ending 4242" in html and ">Default<" in html
        assert "Expires 12/20" in html or "Expires " in html
        assert "No invoices yet." in html
        assert "Open Stripe billing portal" in html
        assert "past-due-banner" not in html

    def test_trialing(self, account: Account, customer: list[str], factory: Factory) -> None:
        trial_end = utcnow() + timedelta(days=9)
        factory.subscription(
            account.tenant_id, "trialing", trial_end=trial_end, period_end=trial_end
        )
        html = self.page(account)
        assert ">Trial<" in html
        assert (
            f"Your free trial of Pro ends on <strong>{format_date_tz(trial_end)}</strong>" in html
        )
        assert f"charged {format_price(PRO.monthly_price)} per month" in html
        assert "Trial ends" in html

    def test_cancel_at_period_end(
        self, account: Account, customer: list[str], factory: Factory
    ) -> None:
        sub = factory.subscription(account.tenant_id, "active", cancel_at_period_end=True)
        html = self.page(account)
        ends = format_date_tz(sub.current_period_end)
        assert f"Your Pro plan ends on <strong>{ends}</strong>; you can resume until then." in html
        assert "Resume Pro" in html
        assert "Cancel plan" not in html and "Switch to yearly" not in html

    def test_past_due_shows_the_banner_on_every_page(
        self, account: Account, customer: list[str], factory: Factory
    ) -> None:
        since = utcnow() - timedelta(days=2)
        factory.subscription(account.tenant_id, "past_due", past_due_since=since)
        html = self.page(account)
        grace = format_date_tz(since + timedelta(days=account.app.config["PAST_DUE_GRACE_DAYS"]))
        assert "Your last payment failed." in html
        assert f"Pro stays active until <strong>{grace}</strong>" in html
        assert "past-due-banner" in html and "Fix payment" in html
        dashboard = account.client.get("/").get_data(as_text=True)
        assert "past-due-banner" in dashboard
        assert 'href="/billing/#payment-methods">Fix payment' in dashboard

    def test_canceled(self, account: Account, customer: list[str], factory: Factory) -> None:
        ended = utcnow() - timedelta(days=3)
        factory.subscription(account.tenant_id, "canceled", ended_at=ended, period_end=ended)
        html = self.page(account)
        assert f"Your Pro plan ended on {format_date_tz(ended)}" in html
        assert "You're on <strong>Free</strong> now; your data is kept." in html
        assert "Upgrade again" in html
        assert "Cancel plan" not in html

    def test_unpaid_reads_as_ended_by_failed_payments(
        self, account: Account, customer: list[str], factory: Factory
    ) -> None:
        factory.subscription(account.tenant_id, "unpaid")
        assert "because its payments failed" in self.page(account)

    def test_stripe_unreachable_is_a_friendly_message(
        self, account: Account, customer: list[str], factory: Factory
    ) -> None:
        factory.subscription(account.tenant_id, "active")
        with stripe_unreachable(account.app):
            response = account.client.get("/billing/")
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Some billing details are unavailable." in html
        assert "could not reach our payment provider" in html
        assert "Your plan: Pro" in html
