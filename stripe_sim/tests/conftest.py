"""Fixtures for the simulator's own tests: an SDK client, a price catalog and a webhook sink."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_sim.testing import SimulatorProcess, WebhookReceiver


@pytest.fixture
def stripe_client(sim: SimulatorProcess) -> stripe.StripeClient:
    return sim.client()


@pytest.fixture
def prices(stripe_client: stripe.StripeClient) -> dict[str, Any]:
    """Pro monthly and yearly prices plus a cheaper Starter monthly price, by lookup key."""
    pro = stripe_client.v1.products.create({"name": "Continuum Pro"})
    starter = stripe_client.v1.products.create({"name": "Continuum Starter"})
    made = {}
    for key, product, amount, interval in (
        ("continuum_pro_monthly", pro, 4900, "month"),
        ("continuum_pro_yearly", pro, 49000, "year"),
        ("continuum_starter_monthly", starter, 1900, "month"),
    ):
        made[key] = stripe_client.v1.prices.create({
            "product": product.id, "currency": "usd", "unit_amount": amount,
            "recurring": {"interval": interval}, "lookup_key": key})
    return made


@pytest.fixture
def hooks(sim: SimulatorProcess, webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    """A webhook receiver registered with the simulator (verifies with its own secret)."""
    sim.add_webhook_endpoint(webhook_receiver.url, webhook_receiver.secret)
    return webhook_receiver


JAN_1_2026 = 1767225600


@pytest.fixture
def subscribe(sim: SimulatorProcess, stripe_client: stripe.StripeClient) -> Any:
    """``subscribe(price, card=..., trial_days=None)`` pays Checkout for a new customer on a
    fresh test clock at 2026-01-01 and returns ``(clock, customer, subscription)``."""

    def run(price: Any, card: str = "4242424242424242",
            trial_days: int | None = None) -> tuple[Any, Any, Any]:
        clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": JAN_1_2026})
        customer = stripe_client.v1.customers.create({"email": "sub@example.com",
                                                      "test_clock": clock.id})
        params: dict[str, Any] = {
            "mode": "subscription", "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "http://portal.test/ok?session_id={CHECKOUT_SESSION_ID}"}
        if trial_days:
            params["subscription_data"] = {"trial_period_days": trial_days}
        session = stripe_client.v1.checkout.sessions.create(params)
        result = sim.pay_checkout(session.url, card, email=None)
        assert result.status == 303, result.body
        sub_id = stripe_client.v1.checkout.sessions.retrieve(session.id).subscription
        return clock, customer, stripe_client.v1.subscriptions.retrieve(sub_id)

    return run
