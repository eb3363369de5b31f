"""Each event is processed once; failures are recorded and retried; concurrency converges."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Subscription, Tenant
from tests.factory import Factory

from .conftest import Billing, event_json, sign


def _in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - reported by the assertions below
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_a_duplicate_event_is_acknowledged_without_work(
    smtp_server: Any, billing: Billing, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    billing.stripe.v1.subscriptions.cancel(sub_id)
    event = event_json("customer.subscription.deleted", billing.subscription_json(sub_id))
    first = billing.post(event)
    second = billing.post(event)
    assert first.get_json() == {"received": True}
    assert second.status_code == 200 and second.get_json()["duplicate"] is True
    smtp_server.wait_for(1)
    assert len(smtp_server.messages) == 1  # one downgrade email, not two


def test_a_failed_event_records_its_error_and_is_reprocessed_on_retry(
    billing: Billing, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    event = event_json("customer.subscription.created", billing.subscription_json(sub_id))
    billing.sim.stop()  # a real outage and restart: the retry below must reconnect
    try:
        failed = billing.post(event)
    finally:
        billing.sim.start()
    assert failed.status_code == 500
    row = billing.event_row(event["id"])
    assert row is not None and row.processed_at is None
    assert "BillingUnavailable" in (row.error or "")
    assert billing.state(tenant_id) == ("free", [])  # nothing half-applied

    retried = billing.post(event)
    assert retried.status_code == 200 and "duplicate" not in retried.get_json()
    row = billing.event_row(event["id"])
    assert row is not None and row.processed_at is not None and row.error is None
    assert billing.state(tenant_id) == ("pro", [(sub_id, "active", False)])


def test_an_event_about_an_object_gone_at_stripe_is_closed_not_retried(
    billing: Billing, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    event = event_json(
        "customer.subscription.updated", {**billing.subscription_json(sub_id), "id": "sub_gone"}
    )
    response = billing.post(event)
    assert response.status_code == 200 and response.get_json()["applied"] is False
    row = billing.event_row(event["id"])
    assert row is not None and row.processed_at is not None
    assert "StripeObjectMissing" in (row.error or "")
    assert billing.post(event).get_json()["duplicate"] is True
    assert billing.state(tenant_id) == ("free", [])


def _poster(billing: Billing, payloads: list[bytes]) -> Callable[[int], int]:
    def post(index: int) -> int:
        payload = payloads[index % len(payloads)]
        client = billing.app.test_client()
        response = client.post(
            "/billing/webhook",
            data=payload,
            headers={"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
        )
        return response.status_code

    return post


@pytest.mark.both_dbs
def test_concurrent_deliveries_of_one_event_process_it_once(
    smtp_server: Any, billing: Billing, db_backend: str, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    billing.stripe.v1.subscriptions.cancel(sub_id)
    payload = json.dumps(
        event_json("customer.subscription.deleted", billing.subscription_json(sub_id))
    ).encode()
    statuses = _in_threads(6, _poster(billing, [payload]))
    assert statuses == [200] * 6
    assert billing.event_count() == 2
    assert billing.state(tenant_id) == ("free", [(sub_id, "canceled", False)])
    smtp_server.wait_for(1)
    assert len(smtp_server.messages) == 1


@pytest.mark.both_dbs
def test_concurrent_related_events_make_one_subscription_row(
    billing: Billing, db_backend: str, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    sub = billing.subscription_json(sub_id)
    invoice = billing.latest_invoice_json(sub_id)
    payloads = [
        json.dumps(event_json(kind, obj)).encode()
        for kind, obj in [
            ("customer.subscription.created", sub),
            ("customer.subscription.updated", sub),
            ("invoice.paid", invoice),
            ("invoice.payment_succeeded", invoice),
        ]
    ]
    statuses = _in_threads(8, _poster(billing, payloads))
    assert statuses == [200] * 8
    with billing.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscription)) == 1
    assert billing.state(tenant_id) == ("pro", [(sub_id, "active", False)])
    assert billing.event_count() == 4


@pytest.mark.both_dbs
def test_concurrent_upgrades_create_one_customer(
    billing: Billing, db_backend: str, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    starts = _in_threads(4, lambda _: billing.start_checkout(tenant_id).session_id)
    assert all(isinstance(start, str) for start in starts), starts
    customers = billing.stripe.v1.customers.list({"email": "owner@example.com"}).data
    assert len(customers) == 1
    with billing.app.app_context():
        assert db.session.get(Tenant, tenant_id).stripe_customer_id == customers[0].id
    sessions = [billing.stripe.v1.checkout.sessions.retrieve(s) for s in starts]
    assert {session.customer for session in sessions} == {customers[0].id}
