"""Billing test helpers: an app wired to the simulator, checkout, signed events.

Events are built as JSON from real simulator objects and signed with the test secret the
way Stripe signs them; the portal verifies every one for real.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.extensions import db
from portal.models import StripeEvent, Subscription, Tenant
from portal.stripe_gateway import get_gateway
from stripe_sim.testing import SimulatorProcess

WEBHOOK_SECRET = "whsec_test_continuum_billing"
#: The event destination's secret, for thin events (the meter's error reports).
THIN_SECRET = "whsec_test_continuum_thin_events"
API_VERSION = "2026-10-28.endive"
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_3DS = "4000002760003184"
CARD_FAILS_LATER = "4000000000000341"


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: SimulatorProcess) -> dict[str, Any]:
    app_config.update(
        STRIPE_SECRET_KEY=sim.api_key,
        STRIPE_API_BASE=sim.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_THIN_WEBHOOK_SECRET=THIN_SECRET,
        PORTAL_BASE_URL="http://portal.test",
    )
    return app_config


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, computed as Stripe computes it."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


def event_json(
    kind: str, data_object: dict[str, Any], *, created: int | None = None, event_id: str = ""
) -> dict[str, Any]:
    """A Stripe event envelope around ``data_object``."""
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created,
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


class Billing:
    """Drives the billing domain of one test's app against the simulator."""

    def __init__(self, app: Flask, client: FlaskClient, sim: SimulatorProcess) -> None:
        self.app = app
        self.client = client
        self.sim = sim
        self.stripe = sim.client()

    # setup

    def bootstrap(self) -> None:
        from portal.billing.cli import bootstrap_catalog

        with self.app.app_context():
            bootstrap_catalog()

    def start_checkout(self, tenant_id: int, interval: str = "month") -> Any:
        from portal.billing.checkout import start_upgrade

        with self.app.test_request_context():
            return start_upgrade(db.session.get(Tenant, tenant_id), interval)

    def subscribe(self, tenant_id: int, card: str = CARD_OK, interval: str = "month") -> str:
        """Pay a Checkout at the simulator (no sync on our side); returns the subscription id."""
        started = self.start_checkout(tenant_id, interval)
        result = self.sim.pay_checkout(started.url, card)
        assert result.status == 303, result.body[:500]
        session = self.stripe.v1.checkout.sessions.retrieve(started.session_id)
        assert session.subscription
        return str(session.subscription)

    # stripe objects as JSON, the way an event carries them

    def subscription_json(self, subscription_id: str) -> dict[str, Any]:
        return self.stripe.v1.subscriptions.retrieve(subscription_id).to_dict(for_json=True)

    def customer_json(self, customer_id: str) -> dict[str, Any]:
        return self.stripe.v1.customers.retrieve(customer_id).to_dict(for_json=True)

    def latest_invoice_json(self, subscription_id: str) -> dict[str, Any]:
        sub = self.stripe.v1.subscriptions.retrieve(subscription_id)
        return self.stripe.v1.invoices.retrieve(str(sub.latest_invoice)).to_dict(for_json=True)

    # webhooks

    def post(
        self,
        body: bytes | str | dict[str, Any],
        *,
        signature: str | None = "sign",
        path: str = "/billing/webhook",
    ) -> TestResponse:
        payload = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["Stripe-Signature"] = sign(payload)
        elif signature is not None:
            headers["Stripe-Signature"] = signature
        return self.client.post(path, data=payload, headers=headers)

    def send(self, kind: str, data_object: dict[str, Any], **envelope: Any) -> TestResponse:
        return self.post(event_json(kind, data_object, **envelope))

    # local state

    def state(self, tenant_id: int) -> tuple[str, list[tuple[str, str, bool]]]:
        """(tenant tier, [(subscription id, status, cancel_at_period_end)])."""
        with self.app.app_context():
            tenant = db.session.get(Tenant, tenant_id)
            subs = db.session.execute(
                sa.select(
                    Subscription.stripe_subscription_id,
                    Subscription.status,
                    Subscription.cancel_at_period_end,
                ).where(Subscription.tenant_id == tenant_id)
            ).all()
            return tenant.tier, [tuple(row) for row in subs]

    def customer_id(self, tenant_id: int) -> str | None:
        with self.app.app_context():
            return db.session.get(Tenant, tenant_id).stripe_customer_id

    def event_row(self, event_id: str) -> StripeEvent | None:
        with self.app.app_context():
            row = db.session.get(StripeEvent, event_id)
            if row is not None:
                db.session.expunge(row)
            return row

    def event_count(self) -> int:
        with self.app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) or 0


@pytest.fixture
def billing(app: Flask, client: FlaskClient, sim: SimulatorProcess) -> Iterator[Billing]:
    helper = Billing(app, client, sim)
    helper.bootstrap()
    yield helper


@pytest.fixture
def clock(billing: Billing, app: Flask) -> Callable[[int], int]:
    """New customers go on a fresh test clock; calling the fixture's value advances it by
    seconds and returns the new time."""
    with app.app_context():
        gateway = get_gateway()
        created = gateway.create_test_clock(int(time.time()), "overage renewal")
    app.config["STRIPE_TEST_CLOCK"] = created.id

    def advance(seconds: int) -> int:
        with app.app_context():
            now = gateway.retrieve_test_clock(created.id).frozen_time
            assert gateway.advance_test_clock(created.id, now + seconds).status == "ready"
            return now + seconds

    return advance
