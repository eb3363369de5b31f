"""Fixtures for the simulator's own tests: an SDK client, a price catalog and a webhook sink."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from portal.stripe_sim.testing import SimulatorProcess, WebhookReceiver


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
