"""The Checkout Session the portal asks Stripe for carries every parameter the issue lists."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factory import Factory

from .conftest import Billing


@pytest.mark.parametrize(
    ("interval", "lookup_key"),
    [
        ("month", "continuum_pro_monthly"),
        ("year", "continuum_pro_yearly"),
    ],
)
def test_the_session_carries_the_tenant_customer_urls_and_price(
    billing: Billing, interval: str, lookup_key: str, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    started = billing.start_checkout(tenant_id, interval)
    session = billing.stripe.v1.checkout.sessions.retrieve(started.session_id)
    customer = billing.stripe.v1.customers.retrieve(str(session.customer))
    assert session.mode == "subscription" and session.status == "open"
    assert session.url == started.url
    assert session.customer == billing.customer_id(tenant_id)
    assert customer.metadata.to_dict() == {"tenant_id": str(tenant_id)}
    assert session.client_reference_id == str(tenant_id)
    price = billing.stripe.v1.prices.list({"lookup_keys": [lookup_key]}).data[0]
    assert session.metadata.to_dict() == {"tenant_id": str(tenant_id), "price_id": price.id}
    assert session.allow_promotion_codes is True
    assert session.success_url == (
        "http://portal.test/billing/success?session_id={CHECKOUT_SESSION_ID}"
    )
    assert session.cancel_url == "http://portal.test/billing/cancelled"
    subscription = billing.stripe.v1.subscriptions.retrieve(
        billing.subscribe(tenant_id, interval=interval)
    )
    keys = sorted(item.price.lookup_key for item in subscription["items"].data)
    assert keys == sorted([lookup_key, "continuum_pro_api_calls"])  # the plan, then overage


@pytest.mark.parametrize(("trial_days", "status"), [(0, "active"), (5, "trialing")])
def test_subscription_data_carries_the_tenant_and_the_configured_trial(
    billing: Billing, app_config: dict[str, Any], trial_days: int, status: str, factory: Factory
) -> None:
    billing.app.config["STRIPE_TRIAL_DAYS"] = trial_days
    tenant_id = factory.account().tenant_id
    subscription = billing.stripe.v1.subscriptions.retrieve(billing.subscribe(tenant_id))
    assert subscription.metadata.to_dict() == {"tenant_id": str(tenant_id)}
    assert subscription.status == status
    if trial_days:
        assert subscription.trial_end - subscription.trial_start == trial_days * 86_400
    else:
        assert subscription.trial_end is None
