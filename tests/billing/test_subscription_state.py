"""The lifecycle table: which tier each subscription state gives, and grace-period expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from portal.billing.subscriptions import (
    ended,
    on_grace_period,
    on_trial,
    past_due,
    past_due_grace_ends,
    refresh_tenant_tier,
    tier_for,
    valid,
)
from portal.extensions import db
from portal.models import Subscription, Tenant
from portal.plans import PricingTier
from tests.factory import Factory

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _sub(status: str, **fields: Any) -> Subscription:
    values: dict[str, Any] = {
        "stripe_subscription_id": "sub_x",
        "status": status,
        "tier": "pro",
        "cancel_at_period_end": False,
        "current_period_start": NOW - 10 * DAY,
        "current_period_end": NOW + 20 * DAY,
    }
    return Subscription(**(values | fields))


@pytest.mark.parametrize(
    ("sub", "tier"),
    [
        (_sub("active"), "pro"),
        (_sub("trialing", trial_end=NOW + 3 * DAY), "pro"),
        (_sub("active", cancel_at_period_end=True), "pro"),
        (_sub("active", cancel_at_period_end=True, current_period_end=NOW - DAY), "free"),
        (_sub("past_due", past_due_since=NOW - 2 * DAY), "pro"),
        (_sub("past_due", past_due_since=NOW - 8 * DAY), "free"),
        (_sub("unpaid"), "free"),
        (_sub("canceled"), "free"),
        (_sub("incomplete"), "free"),
        (_sub("incomplete_expired"), "free"),
        (_sub("paused"), "free"),
        # Paused collection: nobody pays for the period, so no paid tier (README's rule).
        (_sub("active", collection_paused="void"), "free"),
        (_sub("active", collection_paused="keep_as_draft"), "free"),
        (_sub("trialing", trial_end=NOW + 3 * DAY, collection_paused="mark_uncollectible"), "free"),
    ],
)
def test_each_state_gives_its_tier(app: Flask, sub: Subscription, tier: str) -> None:
    with app.app_context():
        assert tier_for(sub, NOW) == PricingTier(tier)
        assert valid(sub, NOW) is (tier == "pro")


def test_the_vocabulary(app: Flask) -> None:
    with app.app_context():
        assert on_trial(_sub("trialing", trial_end=NOW + DAY), NOW)
        assert not on_trial(_sub("trialing", trial_end=NOW - DAY), NOW)
        assert on_grace_period(_sub("active", cancel_at_period_end=True), NOW)
        assert not on_grace_period(_sub("active"), NOW)
        assert past_due(_sub("past_due")) and not past_due(_sub("active"))
        assert ended(_sub("canceled"), NOW) and ended(_sub("unpaid"), NOW)
        assert not ended(_sub("past_due"), NOW)


def test_enterprise_is_never_changed_by_a_sync(app: Flask, factory: Factory) -> None:
    tenant_id = factory.tenant(tier="enterprise")
    factory.subscription(tenant_id, "canceled")
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert refresh_tenant_tier(tenant) == PricingTier.ENTERPRISE
        assert tenant.tier == "enterprise"


def test_expire_grace_downgrades_and_emails_only_the_expired(
    smtp_server: Any, app: Flask, runner: FlaskCliRunner, factory: Factory
) -> None:
    now = datetime.now(UTC)
    expired_id = factory.account("pro", email="late@example.com").tenant_id
    fresh_id = factory.account("pro", email="recent@example.com").tenant_id
    # The rows as the webhooks left them, before the scheduled expiry has run.
    for tenant_id, since in [(expired_id, now - 9 * DAY), (fresh_id, now)]:
        factory.subscription(tenant_id, "past_due", past_due_since=since, refresh_tier=False)
    result = runner.invoke(args=["stripe", "expire-grace"])
    assert result.exit_code == 0, result.output
    assert f"tenant {expired_id}" in result.output and f"tenant {fresh_id}" not in result.output
    with app.app_context():
        assert db.session.get(Tenant, expired_id).tier == "free"
        assert db.session.get(Tenant, fresh_id).tier == "pro"
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "late@example.com" and "Free tier" in mail["Subject"]


def _remote(status: str, created: int) -> Any:
    from portal.stripe_gateway import StripeSubscription

    period_end = datetime.fromtimestamp(created, UTC) + timedelta(days=30)
    return StripeSubscription(
        id="sub_grace",
        customer_id="cus_grace",
        status=status,
        item_id="si_1",
        price_id="price_1",
        lookup_key="continuum_pro_monthly",
        interval="month",
        cancel_at_period_end=False,
        cancel_at=None,
        current_period_start=period_end - timedelta(days=30),
        current_period_end=period_end,
        trial_end=None,
        canceled_at=None,
        ended_at=None,
        created=created,
        metadata={},
        latest_invoice_id=None,
    )


def test_grace_period_is_counted_from_stripes_time_not_ours(app: Flask, factory: Factory) -> None:
    """Under a test clock Stripe's time runs ahead; the grace must follow it, not our clock."""
    from portal.billing.subscriptions import apply_subscription

    stripe_time = int((NOW + timedelta(days=400)).timestamp())
    tenant_id = factory.tenant(tier="pro")
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        apply_subscription(tenant, _remote("past_due", stripe_time), event_created=stripe_time)
        sub = db.session.query(Subscription).filter_by(tenant_id=tenant_id).one()
        assert sub.past_due_since == datetime.fromtimestamp(stripe_time, UTC)
        assert past_due_grace_ends(sub) == sub.past_due_since + timedelta(days=7)
        assert tenant.tier == "pro"
