"""Helpers for the billing page tests: the simulator's customers, cards and Checkout.

Tests that talk to Stripe point the app at the session's simulator with ``use_simulator``;
the rest keep the default config, where any Stripe call would fail loudly. Accounts and
mirrored subscriptions come from the test factory (tests/factory.py).
"""

from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.models import Subscription
from tests.factory import Account


def use_simulator(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    """Point the app at the running simulator."""
    app_config.update(STRIPE_SECRET_KEY=sim.api_key, STRIPE_API_BASE=sim.url, STRIPE_TEST_CLOCK="")
    return app_config


def give_customer(account: Account, sim: Any, cards: int = 1) -> list[str]:
    """Create the tenant's Stripe customer in the simulator with ``cards`` cards (first default).

    Returns the card ids, oldest first.
    """
    from portal.billing.customers import ensure_customer

    with account.app.app_context():
        customer_id = ensure_customer(account.tenant())
    client = sim.client()
    card_ids = [
        client.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id}).id
        for _ in range(cards)
    ]
    if card_ids:
        client.v1.customers.update(
            customer_id, {"invoice_settings": {"default_payment_method": card_ids[0]}}
        )
    return card_ids


def upgrade_through_checkout(account: Account, sim: Any, interval: str = "month") -> str:
    """Pay for Pro at the simulator's hosted Checkout with 4242, as a person would.

    Returns the Stripe subscription id; the tenant's mirror is synced by the success page.
    """
    from portal.billing.cli import bootstrap_catalog

    with account.app.app_context():
        bootstrap_catalog()
    started = account.post("/billing/checkout", {"interval": interval})
    assert started.status_code == 303, started.get_data(as_text=True)
    paid = sim.pay_checkout(started.headers["Location"], "4242424242424242")
    assert paid.location, paid.body
    back = account.client.get(paid.location.replace(account.app.config["PORTAL_BASE_URL"], ""))
    assert back.status_code == 303, back.get_data(as_text=True)
    with account.app.app_context():
        sub = db.session.scalar(
            db.select(Subscription).where(Subscription.tenant_id == account.tenant_id)
        )
        assert sub is not None and sub.status == "active"
        return sub.stripe_subscription_id
