"""Helpers for the billing page tests: signed-in tenants, mirrored subscriptions, cards.

Tests that talk to Stripe point the app at the session's simulator with ``use_simulator``;
the rest keep the default config, where any Stripe call would fail loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Subscription, Tenant, User, utcnow
from portal.plans import PricingTier

CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "violet harbour lantern 42"


def use_simulator(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    """Point the app at the running simulator."""
    app_config.update(STRIPE_SECRET_KEY=sim.api_key, STRIPE_API_BASE=sim.url, STRIPE_TEST_CLOCK="")
    return app_config


@dataclass
class Account:
    """A signed-up tenant; ``client`` is signed in as its owner."""

    app: Flask
    client: FlaskClient
    tenant_id: int
    email: str

    def tenant(self) -> Tenant:
        tenant = db.session.get(Tenant, self.tenant_id)
        assert tenant is not None
        return tenant

    def csrf(self, path: str = "/billing/upgrade") -> str:
        match = CSRF_INPUT.search(self.client.get(path).get_data(as_text=True))
        assert match, f"no csrf token on {path}"
        return match.group(1)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf()}, **kwargs)

    def mirror(
        self,
        status: str,
        *,
        interval: str = "month",
        cancel_at_period_end: bool = False,
        period_end: datetime | None = None,
        trial_end: datetime | None = None,
        past_due_since: datetime | None = None,
        ended_at: datetime | None = None,
        stripe_id: str | None = None,
        tier: PricingTier = PricingTier.PRO,
    ) -> Subscription:
        """Write a mirrored subscription row, as sync_subscription would, and the tier."""
        with self.app.app_context():
            end = period_end or utcnow() + timedelta(days=20)
            sub = Subscription(
                tenant_id=self.tenant_id,
                stripe_subscription_id=stripe_id or f"sub_test_{self.tenant_id}_{status}",
                status=status,
                price_lookup_key=f"continuum_pro_{'yearly' if interval == 'year' else 'monthly'}",
                tier=tier.value,
                interval=interval,
                cancel_at_period_end=cancel_at_period_end,
                current_period_start=end - timedelta(days=365 if interval == "year" else 30),
                current_period_end=end,
                trial_end=trial_end,
                past_due_since=past_due_since,
                ended_at=ended_at,
                canceled_at=ended_at,
            )
            db.session.add(sub)
            ended = status in ("canceled", "incomplete_expired", "unpaid")
            self.tenant().set_tier(PricingTier.FREE if ended else tier)
            db.session.commit()
            db.session.refresh(sub)
            db.session.expunge(sub)
            return sub

    def set_customer(self, customer_id: str | None) -> None:
        with self.app.app_context():
            self.tenant().stripe_customer_id = customer_id
            db.session.commit()


def sign_up(app: Flask, email: str) -> Account:
    """A fresh client signed up (and so signed in) as ``email``."""
    client = app.test_client()
    page = client.get("/signup")
    token = CSRF_INPUT.search(page.get_data(as_text=True))
    assert token
    response = client.post(
        "/signup",
        data={"email": email, "password": PASSWORD, "csrf_token": token[1]},
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    with app.app_context():
        user = db.session.query(User).filter_by(email=email).one()
        return Account(app, client, user.tenant.id, email)


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
