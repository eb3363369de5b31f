"""Usage-based billing: metered prices, metered items without quantity, mixed intervals in
flexible billing mode, usage billed in arrears at each item renewal, and the invoice preview."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import stripe

from stripe_sim.testing import SimulatorProcess, advance_clock

DAY = 86400
JAN_1_2026 = 1767225600
FEB_1_2026 = 1769904000
MAR_1_2026 = 1772323200
EVENT = "continuum_api_calls_overage"
SUCCESS = "http://portal.test/ok?session_id={CHECKOUT_SESSION_ID}"


@pytest.fixture
def catalog(stripe_client: stripe.StripeClient) -> dict[str, Any]:
    """CONTINUUM Pro at $29/month and $290/year plus the metered overage price on its meter."""
    meter = stripe_client.v1.billing.meters.create({
        "display_name": "CONTINUUM API calls over quota", "event_name": EVENT,
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
        "value_settings": {"event_payload_key": "value"}})
    pro = stripe_client.v1.products.create({"name": "CONTINUUM Pro"})
    calls = stripe_client.v1.products.create({"name": "API calls over quota"})

    def price(**params: Any) -> Any:
        return stripe_client.v1.prices.create({"currency": "usd", **params})

    return {
        "meter": meter,
        "monthly": price(product=pro.id, unit_amount=2900, recurring={"interval": "month"}),
        "yearly": price(product=pro.id, unit_amount=29000, recurring={"interval": "year"}),
        "overage": price(product=calls.id, unit_amount_decimal="0.01",
                         lookup_key="continuum_pro_api_calls", billing_scheme="per_unit",
                         recurring={"interval": "month", "usage_type": "metered",
                                    "meter": meter.id}),
    }


@pytest.fixture
def customer(stripe_client: stripe.StripeClient) -> Any:
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": JAN_1_2026})
    customer = stripe_client.v1.customers.create({"email": "pro@example.com",
                                                  "test_clock": clock.id})
    card = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    stripe_client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}})
    customer.clock = clock
    return customer


def checkout(sim: SimulatorProcess, client: stripe.StripeClient, customer: Any,
             line_items: list[dict[str, Any]]) -> Any:
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "customer": customer.id, "line_items": line_items,
        "success_url": SUCCESS})
    assert sim.pay_checkout(session.url, email=None).status == 303
    sub_id = client.v1.checkout.sessions.retrieve(session.id).subscription
    return client.v1.subscriptions.retrieve(sub_id)


def report(client: stripe.StripeClient, customer: Any, calls: int, at: int) -> None:
    """Record usage at ``at``, first moving the customer's clock there if it is behind."""
    if at > client.v1.test_helpers.test_clocks.retrieve(customer.clock.id).frozen_time:
        advance(client, customer, at)
    client.v1.billing.meter_events.create({
        "event_name": EVENT, "timestamp": at,
        "payload": {"stripe_customer_id": customer.id, "value": str(calls)}})


def advance(client: stripe.StripeClient, customer: Any, to: int) -> None:
    advance_clock(client, customer.clock.id, to)


def invoices(client: stripe.StripeClient, sub: Any) -> list[Any]:
    page = client.v1.invoices.list({"subscription": sub.id, "limit": 100})
    return list(reversed(page.data))


def metered_item(sub: Any, catalog: dict[str, Any]) -> Any:
    return next(i for i in sub["items"].data if i.price.id == catalog["overage"].id)


def test_metered_price_shape_and_refusals(stripe_client, catalog):
    overage = catalog["overage"]
    assert (overage.unit_amount, overage.unit_amount_decimal) == (None, Decimal("0.01"))
    assert (overage.recurring.usage_type, overage.recurring.meter) == (
        "metered", catalog["meter"].id)
    product = catalog["monthly"].product
    base = {"product": product, "currency": "usd", "unit_amount_decimal": "0.01"}
    refusals = [
        ({"recurring": {"interval": "month", "usage_type": "metered"}}, "recurring[meter]"),
        ({"recurring": {"interval": "month", "meter": catalog["meter"].id}},
         "recurring[meter]"),
        ({"recurring": {"interval": "fortnight"}}, "recurring[interval]"),
        ({"unit_amount": 1, "recurring": {"interval": "month"}}, "unit_amount_decimal"),
        ({"unit_amount_decimal": "0.0000000000001"}, "unit_amount_decimal"),
        ({"unit_amount_decimal": "-1"}, "unit_amount_decimal"),
    ]
    for extra, param in refusals:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            stripe_client.v1.prices.create({**base, **extra})  # type: ignore[arg-type]
        assert refused.value.param == param, extra
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe_client.v1.prices.create({**base, "recurring": {
            "interval": "month", "usage_type": "metered", "meter": "mtr_test_nope"}})
    assert (unknown.value.http_status, unknown.value.param) == (404, "recurring[meter]")
    whole = stripe_client.v1.prices.create({**base, "unit_amount_decimal": "2900"})
    assert (whole.unit_amount, whole.unit_amount_decimal) == (2900, Decimal(2900))


def test_checkout_quantity_rules(stripe_client, catalog, customer):
    for line_items, param in (
            ([{"price": catalog["monthly"].id, "quantity": 1},
              {"price": catalog["overage"].id, "quantity": 1}], "line_items[1]"),
            ([{"price": catalog["monthly"].id}], "line_items[0]")):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            stripe_client.v1.checkout.sessions.create({
                "mode": "subscription", "customer": customer.id, "line_items": line_items,
                "success_url": SUCCESS})
        assert refused.value.param == param
    assert "metered" in str(refused.value) or "Quantity is required" in str(refused.value)


def test_monthly_pro_with_overage_bills_usage_in_arrears(sim, stripe_client, catalog,
                                                         customer):
    sub = checkout(sim, stripe_client, customer, [
        {"price": catalog["monthly"].id, "quantity": 1}, {"price": catalog["overage"].id}])
    assert sub.billing_mode.type == "flexible"
    item = metered_item(sub, catalog)
    assert "quantity" not in item and item.plan.usage_type == "metered"
    assert (item.current_period_start, item.current_period_end) == (JAN_1_2026, FEB_1_2026)
    first = invoices(stripe_client, sub)[0]
    assert [line.amount for line in first.lines.data] == [2900]
    report(stripe_client, customer, 6000, JAN_1_2026 + 10 * DAY)
    report(stripe_client, customer, 4000, FEB_1_2026 - 1)
    report(stripe_client, customer, 999, JAN_1_2026 - 1)  # before the period: not billed
    advance(stripe_client, customer, FEB_1_2026 + 3600)  # the draft is charged an hour on
    report(stripe_client, customer, 777, FEB_1_2026)  # the next period's usage
    renewal = invoices(stripe_client, sub)[-1]
    assert renewal.billing_reason == "subscription_cycle" and renewal.status == "paid"
    lines = {line.parent.subscription_item_details.subscription_item: line
             for line in renewal.lines.data}
    overage = lines[item.id]
    assert (overage.amount, overage.quantity) == (100, 10000)
    assert (overage.period.start, overage.period.end) == (JAN_1_2026, FEB_1_2026)
    assert overage.pricing.unit_amount_decimal == Decimal("0.01")
    licensed = next(line for key, line in lines.items() if key != item.id)
    assert (licensed.amount, licensed.period.start) == (2900, FEB_1_2026)
    assert renewal.amount_paid == 3000
    renewed = metered_item(stripe_client.v1.subscriptions.retrieve(sub.id), catalog)
    assert (renewed.current_period_start, renewed.current_period_end) == (
        FEB_1_2026, MAR_1_2026)


def test_yearly_pro_gets_monthly_overage_invoices(stripe_client, catalog, customer):
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": catalog["yearly"].id}]})
    advance(stripe_client, customer, JAN_1_2026 + 14 * DAY)
    updated = stripe_client.v1.subscriptions.update(
        sub.id, {"items": [{"price": catalog["overage"].id}]})
    item = metered_item(updated, catalog)
    assert (item.current_period_start, item.current_period_end) == (
        JAN_1_2026 + 14 * DAY, FEB_1_2026)
    assert len(invoices(stripe_client, sub)) == 1  # nothing to prorate for usage
    report(stripe_client, customer, 2500, JAN_1_2026 + 20 * DAY)
    advance(stripe_client, customer, FEB_1_2026 + 3600)
    january = invoices(stripe_client, sub)[-1]
    assert [(line.amount, line.quantity) for line in january.lines.data] == [(25, 2500)]
    # $0.25 is below Stripe's $0.50 minimum charge: marked paid, carried to the balance
    assert (january.total, january.amount_due, january.amount_paid, january.status) == (
        25, 0, 0, "paid")
    assert january.ending_balance == 25
    assert stripe_client.v1.customers.retrieve(customer.id).balance == 25
    advance(stripe_client, customer, MAR_1_2026 + 3600)
    february = invoices(stripe_client, sub)[-1]
    assert [(line.amount, line.quantity) for line in february.lines.data] == [(0, 0)]
    assert (february.total, february.starting_balance, february.ending_balance) == (0, 25, 25)
    assert (february.period_start, february.period_end) == (FEB_1_2026, MAR_1_2026)
    report(stripe_client, customer, 5000, MAR_1_2026 + DAY)
    advance(stripe_client, customer, MAR_1_2026 + 31 * DAY + 3600)
    march = invoices(stripe_client, sub)[-1]
    assert (march.total, march.starting_balance, march.amount_due, march.amount_paid) == (
        50, 25, 75, 75)
    assert march.ending_balance == 0
    assert stripe_client.v1.customers.retrieve(customer.id).balance == 0
    now = stripe_client.v1.subscriptions.retrieve(sub.id)
    yearly = next(i for i in now["items"].data if i.id != item.id)
    assert yearly.current_period_end == JAN_1_2026 + 365 * DAY
    assert len(invoices(stripe_client, sub)) == 4


def test_subscription_items_endpoint_adds_and_lists(stripe_client, catalog, customer):
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": catalog["yearly"].id}]})
    added = stripe_client.v1.subscription_items.create({
        "subscription": sub.id, "price": catalog["overage"].id,
        "metadata": {"kind": "overage"}})
    assert added.subscription == sub.id and "quantity" not in added
    assert added.metadata.to_dict() == {"kind": "overage"}
    listed = stripe_client.v1.subscription_items.list({"subscription": sub.id})
    assert {i.id for i in listed.data} == {sub["items"].data[0].id, added.id}
    assert stripe_client.v1.subscription_items.retrieve(added.id).price.id == \
        catalog["overage"].id
    for params, param in (({"price": catalog["overage"].id}, "items"),
                          ({"price": catalog["monthly"].id, "quantity": 0},
                           "items[0][quantity]"),
                          ({"price": "price_nope"}, "items[0][price]")):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            stripe_client.v1.subscription_items.create({"subscription": sub.id, **params})
        assert refused.value.param == param
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe_client.v1.subscription_items.list({"subscription": "sub_nope"})
    assert unknown.value.http_status == 404


@pytest.mark.parametrize("how", ["create", "update", "item"])
def test_metered_items_refuse_a_quantity(stripe_client, catalog, customer, how):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        if how == "create":
            stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [
                {"price": catalog["monthly"].id}, {"price": catalog["overage"].id,
                                                   "quantity": 1}]})
        sub = stripe_client.v1.subscriptions.create({
            "customer": customer.id, "items": [{"price": catalog["monthly"].id}]})
        if how == "update":
            stripe_client.v1.subscriptions.update(sub.id, {"items": [
                {"price": catalog["overage"].id, "quantity": 2}]})
        stripe_client.v1.subscription_items.create({
            "subscription": sub.id, "price": catalog["overage"].id, "quantity": 3})
    assert "Quantity should not be specified" in str(refused.value)


def test_mixed_intervals_need_flexible_billing_mode(stripe_client, catalog, customer):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.create({
            "customer": customer.id, "billing_mode": {"type": "classic"},
            "items": [{"price": catalog["yearly"].id}, {"price": catalog["overage"].id}]})
    assert refused.value.param == "items" and "interval" in str(refused.value)
    classic = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "billing_mode": {"type": "classic"},
        "items": [{"price": catalog["yearly"].id}]})
    assert classic.billing_mode.type == "classic"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.update(classic.id, {
            "items": [{"price": catalog["overage"].id}]})
    same_interval = stripe_client.v1.subscriptions.update(classic.id, {
        "items": [{"id": classic["items"].data[0].id, "price": catalog["monthly"].id,
                   "quantity": 1}], "proration_behavior": "none"})
    assert same_interval["items"].data[0].price.id == catalog["monthly"].id
    flexible = stripe_client.v1.subscriptions.create({
        "customer": customer.id,
        "items": [{"price": catalog["yearly"].id}, {"price": catalog["overage"].id}]})
    assert flexible.billing_mode.type == "flexible"
    periods = {i.price.id: i.current_period_end for i in flexible["items"].data}
    assert periods == {catalog["yearly"].id: JAN_1_2026 + 365 * DAY,
                       catalog["overage"].id: FEB_1_2026}


def test_preview_includes_usage_so_far(stripe_client, catalog, customer):
    monthly = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [
        {"price": catalog["monthly"].id}, {"price": catalog["overage"].id}]})
    report(stripe_client, customer, 2500, JAN_1_2026 + 60)
    preview = stripe_client.v1.invoices.create_preview({"subscription": monthly.id})
    assert sorted(line.amount for line in preview.lines.data) == [25, 2900]
    assert preview.total == 2925 and preview.next_payment_attempt == FEB_1_2026
    usage = next(line for line in preview.lines.data if line.amount == 25)
    assert (usage.quantity, usage.period.start, usage.period.end) == (
        2500, JAN_1_2026, FEB_1_2026)
    stripe_client.v1.subscriptions.cancel(monthly.id)
    yearly = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [
        {"price": catalog["yearly"].id}, {"price": catalog["overage"].id}]})
    preview = stripe_client.v1.invoices.create_preview({"subscription": yearly.id})
    assert [(line.amount, line.quantity) for line in preview.lines.data] == [(25, 2500)]
    assert preview.next_payment_attempt == FEB_1_2026 + 60  # it started a minute later


def test_usage_amounts_round_half_up_per_line(stripe_client, catalog, customer):
    half = stripe_client.v1.prices.create({
        "product": catalog["monthly"].product, "currency": "usd", "unit_amount_decimal": "0.5",
        "recurring": {"interval": "month", "usage_type": "metered",
                      "meter": catalog["meter"].id}})
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id,
                                                 "items": [{"price": half.id}]})
    report(stripe_client, customer, 3, JAN_1_2026)
    preview = stripe_client.v1.invoices.create_preview({"subscription": sub.id})
    assert [line.amount for line in preview.lines.data] == [2]  # 1.5 cents rounds to 2


def test_cancel_at_period_end_bills_the_last_usage(stripe_client, catalog, customer):
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [
        {"price": catalog["monthly"].id}, {"price": catalog["overage"].id}]})
    stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    report(stripe_client, customer, 12345, JAN_1_2026 + DAY)
    advance(stripe_client, customer, FEB_1_2026 + 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    final = invoices(stripe_client, sub)[-1]
    assert [(line.amount, line.quantity) for line in final.lines.data] == [(123, 12345)]
    assert final.status == "paid"


def test_checkout_with_only_the_metered_price_starts_at_zero(sim, stripe_client, catalog,
                                                             customer):
    sub = checkout(sim, stripe_client, customer, [{"price": catalog["overage"].id}])
    assert sub.status == "active" and "quantity" not in sub["items"].data[0]
    first = invoices(stripe_client, sub)[0]
    assert (first.total, first.status, first.lines.data) == (0, "paid", [])
