"""Hosted Checkout: session API, the form with each test card, and what completion creates."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_sim.testing import SimulatorProcess, WebhookReceiver

SUCCESS = "http://portal.test/billing/success?session_id={CHECKOUT_SESSION_ID}"


def subscription_session(client: stripe.StripeClient, price: Any, **extra: Any) -> Any:
    params = {"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
              "success_url": SUCCESS, "cancel_url": "http://portal.test/billing", **extra}
    return client.v1.checkout.sessions.create(params)


def test_session_create_has_hosted_url_and_params(stripe_client, prices, sim):
    session = subscription_session(
        stripe_client, prices["continuum_pro_monthly"], client_reference_id="tenant-7",
        metadata={"tenant_id": "7"}, allow_promotion_codes=True, customer_email="a@example.com",
        subscription_data={"metadata": {"tenant_id": "7"}, "trial_period_days": 14})
    assert session.status == "open" and session.mode == "subscription"
    assert session.url.startswith(sim.url + "/checkout/cs_test_")
    assert session.client_reference_id == "tenant-7"
    assert session.metadata.to_dict() == {"tenant_id": "7"}
    assert session.allow_promotion_codes is True
    assert session.amount_subtotal == 4900
    page = sim.submit_page(session.url)
    assert page.status == 200
    assert "Stripe simulator" in page.body and "Continuum Pro" in page.body
    assert "14 days free" in page.body and 'name="card_number"' in page.body
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).id == session.id


def test_4242_creates_customer_subscription_paid_invoice_and_redirects(stripe_client, prices,
                                                                      sim, hooks):
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"],
                                   client_reference_id="t1",
                                   subscription_data={"metadata": {"tenant_id": "1"}})
    result = sim.pay_checkout(session.url, email="owner@example.com", name="Ada Owner")
    assert result.status == 303
    assert result.location == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)

    done = stripe_client.v1.checkout.sessions.retrieve(
        session.id, {"expand": ["subscription", "subscription.latest_invoice", "customer"]})
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.customer.email == "owner@example.com"
    sub = done.subscription
    assert sub.status == "active" and sub.metadata.to_dict() == {"tenant_id": "1"}
    item = sub["items"].data[0]
    assert item.price.lookup_key == "continuum_pro_monthly"
    assert item.current_period_end > item.current_period_start
    invoice = sub.latest_invoice
    assert invoice.status == "paid" and invoice.amount_paid == 4900
    assert done.invoice == invoice.id
    assert invoice.hosted_invoice_url.startswith(sim.url)
    pm = stripe_client.v1.payment_methods.retrieve(sub.default_payment_method)
    assert (pm.card.brand, pm.card.last4, pm.card.exp_month, pm.card.exp_year) == (
        "visa", "4242", 12, 2034)
    # Real Checkout pins the card on the subscription only; the customer's default is the
    # integration's job.
    assert done.customer.invoice_settings.default_payment_method is None
    assert done.ui_mode == "hosted_page"

    events = hooks.wait_for(lambda e: "checkout.session.completed" in
                            [x.type for x in e])
    assert [e.type for e in events] == [
        "customer.created", "payment_method.attached",
        "customer.subscription.created", "invoice.created", "invoice.finalized",
        "payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
        "invoice_payment.paid", "invoice.paid", "invoice.payment_succeeded",
        "customer.subscription.updated", "checkout.session.completed"]
    assert events[2].data.object.status == "incomplete"
    assert events[11].data.object.status == "active"
    assert events[11].data.previous_attributes.status == "incomplete"
    # Made by the payer on the hosted page, not by an API request of ours.
    assert all(event.request.id is None for event in events)
    completed = events[-1]
    assert completed.data.object.id == session.id
    assert completed.data.object.subscription == sub.id


def test_trial_starts_trialing_with_zero_invoice(stripe_client, prices, sim):
    customer = stripe_client.v1.customers.create({"email": "t@example.com"})
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"],
                                   customer=customer.id,
                                   subscription_data={"trial_period_days": 14})
    assert sim.pay_checkout(session.url, email=None).status == 303
    done = stripe_client.v1.checkout.sessions.retrieve(
        session.id, {"expand": ["subscription.latest_invoice"]})
    assert done.payment_status == "no_payment_required"
    sub = done.subscription
    assert sub.status == "trialing"
    assert sub.trial_end - sub.trial_start == 14 * 86400
    assert sub["items"].data[0].current_period_end == sub.trial_end
    assert sub.latest_invoice.amount_due == 0 and sub.latest_invoice.status == "paid"


def test_declined_card_shows_error_and_allows_retry(stripe_client, prices, sim):
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"])
    declined = sim.pay_checkout(session.url, "4000000000000002")
    assert declined.status == 402 and "card_declined" in declined.body
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.customers.list().data == []
    retry = sim.pay_checkout(session.url, "4242424242424242")
    assert retry.status == 303
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "complete"


@pytest.mark.parametrize("authenticate", [True, False])
def test_3ds_card_needs_an_extra_step(stripe_client, prices, sim, authenticate):
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"])
    form = {"card_number": "4000002760003184", "expiry": "12 / 34", "cvc": "123",
            "email": "sca@example.com", "name": "S C A"}
    first = sim.submit_page(session.url, form)
    assert first.status == 303 and first.location.endswith("/authenticate")
    step = sim.submit_page(sim.url + first.location)
    assert step.status == 200 and "Complete authentication" in step.body
    result = sim.submit_page(sim.url + first.location,
                             {"action": "complete" if authenticate else "fail"})
    status = stripe_client.v1.checkout.sessions.retrieve(session.id).status
    if authenticate:
        assert result.status == 303 and status == "complete"
    else:
        assert result.status == 402 and "payment_intent_authentication_failure" in result.body
        assert status == "open"


def test_0341_is_declined_when_charged_at_checkout(stripe_client, prices, sim):
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"])
    result = sim.pay_checkout(session.url, "4000000000000341")
    assert result.status == 402 and "card_declined" in result.body


def test_0341_is_accepted_when_nothing_is_charged_yet(stripe_client, prices, sim):
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"],
                                   subscription_data={"trial_period_days": 7})
    assert sim.pay_checkout(session.url, "4000000000000341").status == 303


@pytest.mark.parametrize(("form", "message"), [
    ({"card_number": "4242424242424241"}, "card number is invalid"),
    ({"expiry": "13 / 30"}, "expiration date is incomplete"),
    ({"expiry": "01 / 20"}, "expiration date is in the past"),
    ({"cvc": "1"}, "security code is incomplete"),
    ({"card_number": "4111111111111111"}, "non test card"),
    ({"email": ""}, "email address is required"),
])
def test_bad_card_input_gets_400_with_message(stripe_client, prices, sim, form, message):
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"])
    fields = {"card_number": "4242424242424242", "expiry": "12 / 34", "cvc": "123",
              "email": "x@example.com", **form}
    result = sim.submit_page(session.url, fields)
    assert result.status == 400 and message in result.body


def test_setup_mode_creates_setup_intent(stripe_client, sim, hooks):
    customer = stripe_client.v1.customers.create({"email": "s@example.com"})
    session = stripe_client.v1.checkout.sessions.create({
        "mode": "setup", "customer": customer.id, "currency": "usd",
        "success_url": SUCCESS, "cancel_url": "http://portal.test/billing"})
    assert sim.pay_checkout(session.url, "5555555555554444", email=None).status == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id, {"expand": ["setup_intent"]})
    assert done.status == "complete"
    intent = done.setup_intent
    assert intent.status == "succeeded" and intent.customer == customer.id
    pm = stripe_client.v1.payment_methods.retrieve(intent.payment_method)
    assert pm.customer == customer.id and pm.card.brand == "mastercard"
    events = hooks.wait_for(lambda e: "checkout.session.completed" in
                            [x.type for x in e])
    kinds = [e.type for e in events]
    assert kinds.index("setup_intent.created") < kinds.index("setup_intent.succeeded")


def test_setup_mode_needs_currency(stripe_client, sim):
    """Stripe picks the card networks to offer by currency: setup mode without ``currency``
    (and without payment_method_types) is refused."""
    customer = stripe_client.v1.customers.create({"email": "s@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.checkout.sessions.create({
            "mode": "setup", "customer": customer.id, "success_url": SUCCESS})
    assert caught.value.param == "currency"


def test_expire_and_cancel_link(stripe_client, prices, sim, hooks):
    session = subscription_session(stripe_client, prices["continuum_pro_monthly"])
    assert 'href="http://portal.test/billing"' in sim.submit_page(session.url).body
    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.expire(session.id)
    events = hooks.wait_for(lambda e: len(e) >= 1)
    assert [e.type for e in events] == ["checkout.session.expired"]
    assert sim.pay_checkout(f"{sim.url}/checkout/{session.id}").status == 409


def test_session_param_errors(stripe_client, prices):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.checkout.sessions.create({"mode": "subscription",
                                                   "success_url": SUCCESS})
    assert missing.value.code == "parameter_missing" and missing.value.param == "line_items"
    with pytest.raises(stripe.InvalidRequestError) as nested:
        subscription_session(stripe_client, prices["continuum_pro_monthly"],
                             subscription_data={"description": "gold"})
    assert nested.value.param == "subscription_data[description]"
    assert "does not implement" in str(nested.value)
    with pytest.raises(stripe.InvalidRequestError) as unknown_price:
        subscription_session(stripe_client, type("P", (), {"id": "price_nope"})())
    assert unknown_price.value.http_status == 404
    assert unknown_price.value.code == "resource_missing"


def test_unknown_session_page_is_404(sim: SimulatorProcess, webhook_receiver: WebhookReceiver):
    assert sim.submit_page(f"{sim.url}/checkout/cs_test_nope").status == 404
