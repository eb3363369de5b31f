"""The overage catalog at Stripe (the simulator): the meter and metered price bootstrap makes,
Pro subscriptions that carry the metered item from Checkout, and existing ones that get it when
overage is turned on or on ``flask stripe resync``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from portal.extensions import db
from portal.models import Subscription, Tenant
from tests.factory import Factory

from .conftest import CARD_OK, Billing


def _metered_price(billing: Billing) -> Any:
    (price,) = billing.stripe.v1.prices.list({"lookup_keys": ["continuum_pro_api_calls"]}).data
    return price


def test_bootstrap_makes_the_meter_and_the_metered_price_once(
    billing: Billing, runner: FlaskCliRunner
) -> None:
    again = runner.invoke(args=["stripe", "bootstrap"])  # the fixture bootstrapped already
    assert again.exit_code == 0, again.output
    assert "created" not in again.output and again.output.count("found") == 5  # + portal config
    (meter,) = billing.stripe.v1.billing.meters.list({"status": "active"}).data
    assert meter.event_name == "continuum_api_calls_overage"
    assert meter.display_name == "CONTINUUM API calls over quota"
    assert meter.default_aggregation.formula == "sum"
    assert meter.customer_mapping.type == "by_id"
    assert meter.customer_mapping.event_payload_key == "stripe_customer_id"
    assert meter.value_settings.event_payload_key == "value"
    price = _metered_price(billing)
    assert price.currency == "usd" and price.billing_scheme == "per_unit"
    assert Decimal(price.unit_amount_decimal) == Decimal("0.01")
    assert Decimal(price.unit_amount_decimal) * 2500 == Decimal(25)  # 2,500 calls: $0.25
    assert price.recurring.interval == "month" and price.recurring.usage_type == "metered"
    assert price.recurring.meter == meter.id
    (monthly,) = billing.stripe.v1.prices.list({"lookup_keys": ["continuum_pro_monthly"]}).data
    assert price.product == monthly.product


@pytest.mark.parametrize("interval", ["month", "year"])
def test_checkout_carries_the_metered_price_and_sync_mirrors_it(
    billing: Billing, factory: Factory, interval: str
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id, interval=interval)
    remote = billing.stripe.v1.subscriptions.retrieve(sub_id)
    by_usage = {item.price.recurring.usage_type: item for item in remote["items"].data}
    assert set(by_usage) == {"licensed", "metered"}
    metered = by_usage["metered"]
    assert metered.price.id == _metered_price(billing).id
    assert "quantity" not in metered or metered.get("quantity") in (None, 0)
    assert by_usage["licensed"].price.recurring.interval == interval
    assert remote.billing_mode.type == "flexible"

    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    with billing.app.app_context():
        sub = db.session.query(Subscription).filter_by(stripe_subscription_id=sub_id).one()
        assert sub.metered_item_id == metered.id
        assert sub.usage_period_start is not None and sub.usage_period_end is not None
        usage_days = (sub.usage_period_end - sub.usage_period_start).days
        assert 28 <= usage_days <= 31  # the cap's period is monthly on both plans
        assert sub.current_period_end is not None and sub.current_period_start is not None
        plan_days = (sub.current_period_end - sub.current_period_start).days
        assert plan_days == usage_days if interval == "month" else plan_days >= 365


def _old_subscription(billing: Billing, tenant_id: int, interval: str = "month") -> str:
    """A Pro subscription bought before overage existed: the plan's price only, synced."""
    key = "continuum_pro_monthly" if interval == "month" else "continuum_pro_yearly"
    (price,) = billing.stripe.v1.prices.list({"lookup_keys": [key]}).data
    with billing.app.test_request_context():
        from portal.billing.customers import ensure_customer

        customer_id = ensure_customer(db.session.get(Tenant, tenant_id))
    session = billing.stripe.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(tenant_id),
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "http://portal.test/billing/success",
        }
    )
    assert billing.sim.pay_checkout(str(session.url), CARD_OK).status == 303
    sub_id = str(billing.stripe.v1.checkout.sessions.retrieve(session.id).subscription)
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    with billing.app.app_context():
        sub = db.session.query(Subscription).filter_by(stripe_subscription_id=sub_id).one()
        assert sub.metered_item_id is None and sub.tier == "pro"
        assert sub.usage_period_end == sub.current_period_end  # no metered item: the plan's
    return sub_id


def _metered_items(billing: Billing, sub_id: str) -> list[Any]:
    remote = billing.stripe.v1.subscriptions.retrieve(sub_id)
    return [i for i in remote["items"].data if i.price.recurring.usage_type == "metered"]


@pytest.mark.parametrize("interval", ["month", "year"])
def test_turning_overage_on_adds_the_metered_item_once(
    billing: Billing, factory: Factory, interval: str
) -> None:
    account = factory.account(key=True)
    sub_id = _old_subscription(billing, account.tenant_id, interval)
    headers = {"Authorization": f"Bearer {account.key}"}
    for cap in (2000, 3000):  # the second time the item is there already
        answer = billing.client.put(
            "/v1/billing/overage",
            json={"enabled": True, "monthly_cap_cents": cap},
            headers=headers,
        )
        assert answer.status_code == 200, answer.get_json()
    (item,) = _metered_items(billing, sub_id)
    with billing.app.app_context():
        sub = db.session.query(Subscription).filter_by(stripe_subscription_id=sub_id).one()
        tenant = db.session.get(Tenant, account.tenant_id)
        assert sub.metered_item_id == item.id
        assert tenant is not None and (tenant.overage_enabled, tenant.overage_cap_cents) == (
            True,
            3000,
        )
        assert sub.usage_period_end is not None and sub.usage_period_start is not None
        assert sub.usage_period_end - sub.usage_period_start <= timedelta(days=31)


def test_turning_overage_off_needs_no_metered_item(billing: Billing, factory: Factory) -> None:
    account = factory.account(key=True)
    sub_id = _old_subscription(billing, account.tenant_id)
    answer = billing.client.put(
        "/v1/billing/overage",
        json={"enabled": False, "monthly_cap_cents": 500},
        headers={"Authorization": f"Bearer {account.key}"},
    )
    assert answer.status_code == 200
    assert _metered_items(billing, sub_id) == []


def test_resync_adds_the_metered_item_to_pro_subscriptions_lacking_it(
    billing: Billing, factory: Factory, runner: FlaskCliRunner
) -> None:
    pro = factory.account().tenant_id
    sub_id = _old_subscription(billing, pro)
    free = factory.account().tenant_id
    first = runner.invoke(args=["stripe", "resync"])
    assert first.exit_code == 0, first.output
    assert f"tenant {pro}: added the metered overage item" in first.output
    assert f"tenant {free}" not in first.output
    assert len(_metered_items(billing, sub_id)) == 1
    second = runner.invoke(args=["stripe", "resync"])
    assert "added the metered overage item" not in second.output
    assert len(_metered_items(billing, sub_id)) == 1
