"""The billing page reads cards and invoices from the local mirror: no Stripe call once it is warm,
kept current by webhooks and by the page's own actions in the same request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from billing_support import give_customer, upgrade_through_checkout, use_simulator
from flask import Flask

from portal.extensions import db
from portal.models import CustomerMirror, PaymentMethodMirror
from portal.stripe_gateway.connection import StripeConnection
from tests.billing.conftest import WEBHOOK_SECRET, event_json, sign
from tests.factory import Account
from tests.outage import stripe_unreachable

HTMX = {"HX-Request": "true", "HX-Target": "payment-methods"}


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    app_config["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    return use_simulator(app_config, sim)


@pytest.fixture
def stripe_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Stripe API call the portal makes (the gateway's one way out), by action."""
    calls: list[str] = []
    real = StripeConnection._call

    def counted(self: StripeConnection, action: str, call: Any) -> Any:
        calls.append(action)
        return real(self, action, call)

    monkeypatch.setattr(StripeConnection, "_call", counted)
    return calls


def post_event(account: Account, kind: str, data_object: dict[str, Any]) -> None:
    payload = json.dumps(event_json(kind, data_object)).encode()
    response = account.app.test_client().post(
        "/billing/webhook",
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def billing_html(account: Account) -> str:
    response = account.client.get("/billing/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_warm_mirror_shows_the_page_without_any_stripe_call(
    account: Account, sim: Any, stripe_calls: list[str]
) -> None:
    upgrade_through_checkout(account, sim)
    billing_html(account)  # the first view fills the mirror if it is still cold
    stripe_calls.clear()
    html = billing_html(account)
    assert stripe_calls == []
    assert "Visa ending 4242" in html and ">Default<" in html and "$29.00" in html
    with stripe_unreachable(account.app):
        offline = billing_html(account)
    assert "Visa ending 4242" in offline and "$29.00" in offline
    assert "Some billing details are unavailable." not in offline


def test_a_cold_mirror_is_filled_from_stripe_on_the_first_view(
    account: Account, sim: Any, stripe_calls: list[str]
) -> None:
    first, second = give_customer(account, sim, cards=2)
    html = billing_html(account)
    assert stripe_calls, "the first view asks Stripe"
    assert first in html and second in html
    with account.app.app_context():
        ids = set(db.session.scalars(sa.select(PaymentMethodMirror.id)))
        mirror = db.session.get(CustomerMirror, account.tenant_id)
        assert ids == {first, second}
        assert mirror is not None and mirror.default_payment_method_id == first
        assert mirror.synced_at is not None
    stripe_calls.clear()
    billing_html(account)
    assert stripe_calls == []


def test_card_webhooks_keep_the_mirror_current(account: Account, sim: Any) -> None:
    (first,) = give_customer(account, sim, cards=1)
    billing_html(account)
    client = sim.client()
    with account.app.app_context():
        customer_id = account.tenant().stripe_customer_id
    second = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer_id})
    post_event(account, "payment_method.attached", second.to_dict(for_json=True))
    client.v1.customers.update(
        customer_id, {"invoice_settings": {"default_payment_method": second.id}}
    )
    post_event(
        account,
        "customer.updated",
        client.v1.customers.retrieve(customer_id).to_dict(for_json=True),
    )
    with stripe_unreachable(account.app):
        html = billing_html(account)
    assert "Mastercard ending" in html and "Visa ending 4242" in html
    assert html.index("Mastercard ending") < html.index(">Default<") < html.index("Visa ending")
    detached = client.v1.payment_methods.detach(first)
    post_event(account, "payment_method.detached", detached.to_dict(for_json=True))
    with stripe_unreachable(account.app):
        html = billing_html(account)
    assert first not in html and "Visa ending 4242" not in html and second.id in html


def test_a_replayed_attach_after_the_detach_does_not_bring_the_card_back(
    account: Account, sim: Any
) -> None:
    """Cards are re-fetched, so the order deliveries arrive in does not matter."""
    first, second = give_customer(account, sim, cards=2)
    billing_html(account)
    attached = sim.client().v1.payment_methods.retrieve(second).to_dict(for_json=True)
    detached = sim.client().v1.payment_methods.detach(second)
    post_event(account, "payment_method.detached", detached.to_dict(for_json=True))
    post_event(account, "payment_method.attached", attached)  # late, out of order
    with account.app.app_context():
        assert set(db.session.scalars(sa.select(PaymentMethodMirror.id))) == {first}


def test_invoice_webhooks_update_the_mirror(account: Account, sim: Any) -> None:
    upgrade_through_checkout(account, sim)
    billing_html(account)
    with account.app.app_context():
        customer_id = account.tenant().stripe_customer_id
    now = int(time.time())
    invoice = {
        "id": "in_test_mirror_open",
        "object": "invoice",
        "customer": customer_id,
        "number": "MIRROR-0002",
        "status": "open",
        "currency": "usd",
        "amount_due": 1234,
        "amount_paid": 0,
        "total": 1234,
        "created": now + 60,
        "period_start": now,
        "period_end": now,
        "attempt_count": 0,
        "next_payment_attempt": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "status_transitions": {"paid_at": None},
        "parent": None,
        "lines": {"object": "list", "data": [], "has_more": False},
    }
    post_event(account, "invoice.updated", invoice)
    with stripe_unreachable(account.app):
        html = billing_html(account)
    assert "MIRROR-0002" in html and "$12.34" in html
    post_event(account, "invoice.voided", {**invoice, "status": "void"})
    post_event(account, "invoice.updated", invoice)  # an older copy arriving late
    with stripe_unreachable(account.app):
        html = billing_html(account)
    row = html[html.index("MIRROR-0002") :]
    assert "Void" in row[: row.index("</tr>")]


def test_card_actions_update_the_mirror_in_the_same_request(account: Account, sim: Any) -> None:
    first, second = give_customer(account, sim, cards=2)
    billing_html(account)
    token = account.client.csrf_token("/billing/")
    made = account.client.post(
        f"/billing/payment-methods/{second}/default", data={"csrf_token": token}, headers=HTMX
    )
    assert made.status_code == 200
    with account.app.app_context():
        mirror = db.session.get(CustomerMirror, account.tenant_id)
        assert mirror is not None and mirror.default_payment_method_id == second
    removed = account.client.post(
        f"/billing/payment-methods/{first}/remove", data={"csrf_token": token}, headers=HTMX
    )
    assert removed.status_code == 200
    with stripe_unreachable(account.app):
        html = billing_html(account)
    assert first not in html and second in html and ">Default<" in html
    with account.app.app_context():
        assert set(db.session.scalars(sa.select(PaymentMethodMirror.id))) == {second}


# --- against a slow Stripe -------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[Any]:
    """A simulator of its own that answers every API call after 300 ms, like a far-away Stripe."""
    from stripe_sim.testing import SimulatorProcess

    with SimulatorProcess(latency_ms=300) as process:
        yield process


def test_with_300_ms_per_stripe_call_the_page_renders_in_under_100_ms(
    app: Flask, factory: Any, slow_sim: Any
) -> None:
    use_simulator(app.config, slow_sim)
    account = factory.account("free", email="slow@example.com")
    upgrade_through_checkout(account, slow_sim)
    billing_html(account)  # warm
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        html = billing_html(account)
        timings.append(time.perf_counter() - started)
    assert "Visa ending 4242" in html and "$29.00" in html
    assert min(timings) < 0.100, timings
