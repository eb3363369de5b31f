"""Subscription updates: price swaps with each proration behaviour, cancel at period end and
resume, cancel now, listing, and the invoice preview of a proposed change."""

from __future__ import annotations

import pytest
import stripe

from stripe_sim.testing import advance_clock

DAY = 86400


def item_of(sub):
    return sub["items"].data[0]


def advance(client, clock, seconds):
    return advance_clock(client, clock.id, clock.frozen_time + seconds)


def test_swap_with_prorations_bills_them_on_the_next_invoice(stripe_client, prices, subscribe,
                                                            hooks):
    clock, customer, sub = subscribe(prices["continuum_starter_monthly"])
    at = sub.start_date + 10 * DAY
    updated = stripe_client.v1.subscriptions.update(sub.id, {
        "items": [{"id": item_of(sub).id, "price": prices["continuum_pro_monthly"].id}],
        "proration_behavior": "create_prorations", "proration_date": at})
    assert item_of(updated).price.id == prices["continuum_pro_monthly"].id
    assert item_of(updated).current_period_end == item_of(sub).current_period_end
    assert len(stripe_client.v1.invoices.list({"subscription": sub.id}).data) == 1
    advance(stripe_client, clock, 31 * DAY + 3600)  # the renewal draft is charged an hour on
    renewal = stripe_client.v1.invoices.list({"subscription": sub.id}).data[0]
    amounts = [line.amount for line in renewal.lines.data]
    fraction = (item_of(sub).current_period_end - at) / (31 * DAY)
    assert amounts == [-round(1900 * fraction), round(4900 * fraction), 4900]
    assert renewal.lines.data[0].parent.subscription_item_details.proration is True
    assert renewal.status == "paid" and renewal.amount_paid == sum(amounts)
    events = hooks.wait_for(lambda e: [x.type for x in e].count("invoice.paid") == 2)
    update = next(e for e in events if e.type == "customer.subscription.updated"
                  and "items" in e.data.previous_attributes)
    assert update.data.previous_attributes["items"].data[0].price.id == \
        prices["continuum_starter_monthly"].id


def test_always_invoice_charges_the_proration_now(stripe_client, prices, subscribe):
    _clock, _customer, sub = subscribe(prices["continuum_starter_monthly"])
    updated = stripe_client.v1.subscriptions.update(sub.id, {
        "items": [{"id": item_of(sub).id, "price": prices["continuum_pro_monthly"].id}],
        "proration_behavior": "always_invoice", "expand": ["latest_invoice"]})
    invoice = updated.latest_invoice
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    assert invoice.amount_paid == 4900 - 1900


def test_no_prorations_just_swaps(stripe_client, prices, subscribe):
    clock, _customer, sub = subscribe(prices["continuum_starter_monthly"])
    stripe_client.v1.subscriptions.update(sub.id, {
        "items": [{"id": item_of(sub).id, "price": prices["continuum_pro_monthly"].id}],
        "proration_behavior": "none"})
    advance(stripe_client, clock, 31 * DAY)
    renewal = stripe_client.v1.invoices.list({"subscription": sub.id}).data[0]
    assert [line.amount for line in renewal.lines.data] == [4900]


def test_monthly_to_yearly_resets_the_cycle_and_invoices_now(stripe_client, prices, subscribe):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    clock = advance(stripe_client, clock, 15 * DAY)
    updated = stripe_client.v1.subscriptions.update(sub.id, {
        "items": [{"id": item_of(sub).id, "price": prices["continuum_pro_yearly"].id}],
        "expand": ["latest_invoice"]})
    item = item_of(updated)
    assert item.current_period_start == clock.frozen_time
    assert item.current_period_end == sub.start_date + 15 * DAY + 365 * DAY
    assert updated.billing_cycle_anchor == clock.frozen_time
    lines = updated.latest_invoice.lines.data
    assert [line.amount for line in lines] == [-round(4900 * 16 / 31), 49000]
    assert updated.latest_invoice.status == "paid"


def test_preview_shows_prorations_for_a_proposed_swap(stripe_client, prices, subscribe):
    _clock, customer, sub = subscribe(prices["continuum_starter_monthly"])
    at = sub.start_date + 20 * DAY
    preview = stripe_client.v1.invoices.create_preview({
        "customer": customer.id, "subscription": sub.id,
        "subscription_details": {
            "items": [{"id": item_of(sub).id, "price": prices["continuum_pro_monthly"].id}],
            "proration_behavior": "create_prorations", "proration_date": at}})
    credit, charge, next_period = preview.lines.data
    fraction = 11 / 31
    assert (credit.amount, charge.amount) == (-round(1900 * fraction), round(4900 * fraction))
    assert credit.period.start == at and "Unused time" in credit.description
    assert next_period.amount == 4900
    assert next_period.period.start == item_of(sub).current_period_end
    assert preview.amount_due == credit.amount + charge.amount + 4900
    unchanged = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert item_of(unchanged).price.id == prices["continuum_starter_monthly"].id
    assert len(stripe_client.v1.invoices.list({"customer": customer.id}).data) == 1


def test_cancel_at_period_end_resume_and_end(stripe_client, prices, subscribe, hooks):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    canceling = stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    assert canceling.cancel_at_period_end is True
    assert canceling.cancel_at == item_of(sub).current_period_end
    assert canceling.status == "active"
    resumed = stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": False})
    assert (resumed.cancel_at_period_end, resumed.cancel_at, resumed.canceled_at) == (
        False, None, None)
    stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    advance(stripe_client, clock, 32 * DAY)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == item_of(sub).current_period_end
    assert len(stripe_client.v1.invoices.list({"subscription": sub.id}).data) == 1
    events = hooks.wait_for(lambda e: "customer.subscription.deleted" in [x.type for x in e])
    updates = [e for e in events if e.type == "customer.subscription.updated"
               and "cancel_at_period_end" in e.data.previous_attributes]
    assert updates[0].data.previous_attributes.cancel_at_period_end is False
    assert updates[1].data.previous_attributes.cancel_at_period_end is True


def test_cancel_now_and_list_by_status(stripe_client, prices, subscribe, hooks):
    _clock, customer, sub = subscribe(prices["continuum_pro_monthly"])
    canceled = stripe_client.v1.subscriptions.cancel(
        sub.id, {"cancellation_details": {"comment": "too pricey"}})
    assert canceled.status == "canceled" and canceled.canceled_at == sub.start_date
    assert canceled.cancellation_details.comment == "too pricey"
    assert stripe_client.v1.subscriptions.list({"customer": customer.id}).data == []
    assert [s.id for s in stripe_client.v1.subscriptions.list(
        {"customer": customer.id, "status": "canceled"}).data] == [sub.id]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.cancel(sub.id)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    events = hooks.wait_for(lambda e: "customer.subscription.deleted" in [x.type for x in e])
    assert events[-1].data.object.status == "canceled"


def test_error_if_incomplete_rolls_back_a_failed_upgrade(stripe_client, prices, subscribe):
    _clock, customer, sub = subscribe(prices["continuum_starter_monthly"])
    failing = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail",
                                                      {"customer": customer.id})
    stripe_client.v1.subscriptions.update(sub.id, {"default_payment_method": failing.id})
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.subscriptions.update(sub.id, {
            "items": [{"id": item_of(sub).id, "price": prices["continuum_pro_monthly"].id}],
            "proration_behavior": "always_invoice", "payment_behavior": "error_if_incomplete"})
    assert declined.value.code == "card_declined"
    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert item_of(after).price.id == prices["continuum_starter_monthly"].id
    assert after.status == "active"
    assert len(stripe_client.v1.invoices.list({"subscription": sub.id}).data) == 1


def test_update_rejects_foreign_items_and_bad_behaviour(stripe_client, prices, subscribe):
    _clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        stripe_client.v1.subscriptions.update(
            sub.id, {"items": [{"id": "si_other", "price": prices["continuum_pro_yearly"].id}]})
    assert foreign.value.param == "items[0][id]"
    with pytest.raises(stripe.InvalidRequestError) as behaviour:
        stripe_client.v1.subscriptions.update(sub.id, {"proration_behavior": "sometimes"})
    assert behaviour.value.param == "proration_behavior"


def customer_with_card(client, magic):
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1767225600})
    customer = client.v1.customers.create({"email": "api@example.com", "test_clock": clock.id})
    card = client.v1.payment_methods.attach(magic, {"customer": customer.id})
    return clock, customer, card


def test_api_created_subscription_starts_active_with_a_good_card(stripe_client, prices):
    _clock, customer, card = customer_with_card(stripe_client, "pm_card_visa")
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": prices["continuum_pro_monthly"].id}],
        "default_payment_method": card.id, "expand": ["latest_invoice"]})
    assert sub.status == "active" and sub.latest_invoice.status == "paid"


def test_failed_first_payment_is_incomplete_then_expires(stripe_client, prices):
    clock, customer, card = customer_with_card(stripe_client, "pm_card_chargeCustomerFail")
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": prices["continuum_pro_monthly"].id}],
        "default_payment_method": card.id, "expand": ["latest_invoice"]})
    assert sub.status == "incomplete"
    assert sub.latest_invoice.status == "open"
    assert sub.latest_invoice.next_payment_attempt is None
    advance_clock(stripe_client, clock.id, clock.frozen_time + 24 * 3600)
    expired = stripe_client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert expired.status == "incomplete_expired" and expired.latest_invoice.status == "void"


def test_default_incomplete_waits_for_the_invoice_to_be_paid(stripe_client, prices):
    _clock, customer, card = customer_with_card(stripe_client, "pm_card_visa")
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": prices["continuum_pro_monthly"].id}],
        "payment_behavior": "default_incomplete"})
    assert sub.status == "incomplete"
    stripe_client.v1.invoices.pay(sub.latest_invoice, {"payment_method": card.id})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_error_if_incomplete_creates_nothing(stripe_client, prices):
    _clock, customer, card = customer_with_card(stripe_client, "pm_card_chargeCustomerFail")
    with pytest.raises(stripe.CardError):
        stripe_client.v1.subscriptions.create({
            "customer": customer.id, "items": [{"price": prices["continuum_pro_monthly"].id}],
            "default_payment_method": card.id, "payment_behavior": "error_if_incomplete"})
    assert stripe_client.v1.subscriptions.list({"customer": customer.id,
                                                "status": "all"}).data == []


def test_adding_a_licensed_item_mid_cycle_charges_the_remaining_time(stripe_client, prices,
                                                                     subscribe):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    end = item_of(sub).current_period_end
    advance(stripe_client, clock, 10 * DAY)
    at = clock.frozen_time + 10 * DAY
    updated = stripe_client.v1.subscriptions.update(sub.id, {
        "items": [{"price": prices["continuum_starter_monthly"].id, "quantity": 2}],
        "proration_behavior": "always_invoice", "expand": ["latest_invoice"]})
    added = updated["items"].data[-1]
    assert (added.quantity, added.current_period_start, added.current_period_end) == (
        2, at, end)
    line = updated.latest_invoice.lines.data[0]
    assert line.amount == round(1900 * 2 * (end - at) / (end - sub.start_date))
    assert line.parent.subscription_item_details.subscription_item == added.id
    with pytest.raises(stripe.InvalidRequestError) as before_period:
        stripe_client.v1.subscriptions.update(sub.id, {
            "items": [{"price": prices["continuum_pro_yearly"].id}],
            "proration_date": sub.start_date - DAY})
    assert before_period.value.param == "proration_date"
