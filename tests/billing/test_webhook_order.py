"""Webhooks that cannot be fooled by order and never retry forever (issue 12 item 6): customer
events re-fetch the customer, an object gone at Stripe closes the event with its error noted,
and an event on another API version is handled from objects re-fetched at the pinned one."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from portal.billing.checkout import start_add_payment_method
from portal.extensions import db
from portal.models import Tenant
from tests.factory import Factory

from .conftest import Billing, event_json

# Every rule holds on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_dbs


@pytest.fixture
def subscribed(billing: Billing, factory: Factory) -> tuple[int, str]:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    return tenant_id, sub_id


def test_a_late_customer_updated_does_not_relink_a_deleted_customer(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, _ = subscribed
    customer_id = billing.customer_id(tenant_id)
    assert customer_id is not None
    stale = billing.customer_json(customer_id)  # as a customer.updated sent before the delete
    billing.stripe.v1.customers.delete(customer_id)
    gone = {"id": customer_id, "object": "customer", "deleted": True}
    assert billing.send("customer.deleted", gone).status_code == 200
    assert billing.customer_id(tenant_id) is None
    late = billing.send("customer.updated", stale, created=stale["created"])
    assert late.status_code == 200
    assert billing.customer_id(tenant_id) is None


def test_a_customer_event_for_a_deleted_customer_unlinks_even_if_the_deletion_was_missed(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, sub_id = subscribed
    customer_id = billing.customer_id(tenant_id)
    assert customer_id is not None
    stale = billing.customer_json(customer_id)
    billing.stripe.v1.customers.delete(customer_id)
    assert billing.send("customer.updated", stale).status_code == 200
    assert billing.customer_id(tenant_id) is None
    assert billing.state(tenant_id) == ("free", [(sub_id, "canceled", False)])


def test_a_late_setup_checkout_for_a_removed_card_is_closed_not_retried(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, _ = subscribed
    with billing.app.test_request_context():
        started = start_add_payment_method(db.session.get(Tenant, tenant_id))
    billing.sim.pay_checkout(started.url, "5555555555554444")
    session = billing.stripe.v1.checkout.sessions.retrieve(started.session_id)
    intent = billing.stripe.v1.setup_intents.retrieve(str(session.setup_intent))
    billing.stripe.v1.payment_methods.detach(str(intent.payment_method))
    event = event_json("checkout.session.completed", session.to_dict(for_json=True))
    for _ in range(2):  # a retry gets the same answer and no work
        response = billing.post(event)
        assert response.status_code == 200, response.get_json()
    row = billing.event_row(event["id"])
    assert row is not None and row.processed_at is not None
    assert row.error is not None and "card" in row.error


def _old_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    """``invoice`` as an older API version rendered it: subscription at the top, no parent."""
    old = {k: v for k, v in invoice.items() if k not in ("parent", "lines")}
    old["subscription"] = invoice["parent"]["subscription_details"]["subscription"]
    old["paid"] = False
    return old


def test_an_event_on_another_api_version_is_logged_and_refetched(
    smtp_server: Any,
    billing: Billing,
    subscribed: tuple[int, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, sub_id = subscribed
    invoice = billing.latest_invoice_json(sub_id)
    event = event_json("invoice.payment_failed", _old_invoice(invoice))
    event["api_version"] = "2024-06-20"
    with caplog.at_level(logging.ERROR, logger="continuum.billing"):
        assert billing.post(event).status_code == 200
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Action needed: your CONTINUUM payment failed"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("2024-06-20" in message and "re-fetching" in message for message in errors)
