"""One test per webhook handler, from JSON events built here, signed and verified for real."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from tests.factory import Factory

from .conftest import Billing, event_json


@pytest.fixture
def subscribed(billing: Billing, factory: Factory) -> tuple[int, str]:
    """A tenant who paid at Stripe; our side has not heard about it yet."""
    tenant_id = factory.account().tenant_id
    return tenant_id, billing.subscribe(tenant_id)


def test_checkout_session_completed_syncs_the_new_subscription(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, sub_id = subscribed
    assert billing.state(tenant_id) == ("free", [])
    sessions = billing.stripe.v1.checkout.sessions.list({"limit": 1})
    session = sessions.data[0].to_dict(for_json=True)
    response = billing.send("checkout.session.completed", session)
    assert response.status_code == 200
    assert billing.state(tenant_id) == ("pro", [(sub_id, "active", False)])


def test_checkout_session_completed_in_setup_mode_makes_the_card_default(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    from portal.billing.checkout import start_add_payment_method
    from portal.extensions import db
    from portal.models import Tenant

    tenant_id, _ = subscribed
    with billing.app.test_request_context():
        started = start_add_payment_method(db.session.get(Tenant, tenant_id))
    billing.sim.pay_checkout(started.url, "4000000000000341")
    session = billing.stripe.v1.checkout.sessions.retrieve(started.session_id)
    response = billing.send("checkout.session.completed", session.to_dict(for_json=True))
    assert response.status_code == 200
    intent = billing.stripe.v1.setup_intents.retrieve(str(session.setup_intent))
    customer = billing.stripe.v1.customers.retrieve(str(billing.customer_id(tenant_id)))
    assert customer.invoice_settings.default_payment_method == intent.payment_method


@pytest.mark.parametrize(
    "kind",
    ["customer.subscription.created", "customer.subscription.updated"],
)
def test_subscription_events_mirror_the_subscription(
    billing: Billing, subscribed: tuple[int, str], kind: str
) -> None:
    tenant_id, sub_id = subscribed
    assert billing.send(kind, billing.subscription_json(sub_id)).status_code == 200
    assert billing.state(tenant_id) == ("pro", [(sub_id, "active", False)])


def test_subscription_deleted_downgrades_and_emails(
    smtp_server: Any, billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, sub_id = subscribed
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    billing.stripe.v1.subscriptions.cancel(sub_id)
    response = billing.send("customer.subscription.deleted", billing.subscription_json(sub_id))
    assert response.status_code == 200
    assert billing.state(tenant_id) == ("free", [(sub_id, "canceled", False)])
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "owner@example.com"
    assert "Free tier" in mail["Subject"]
    assert "data is kept" in mail.get_content()


def test_an_old_event_cannot_regress_newer_state(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, sub_id = subscribed
    active_snapshot = billing.subscription_json(sub_id)
    billing.stripe.v1.subscriptions.cancel(sub_id)
    billing.send("customer.subscription.deleted", billing.subscription_json(sub_id))
    # The older "active" update arrives late: the handler re-fetches, Stripe says canceled.
    late = billing.send(
        "customer.subscription.updated", active_snapshot, created=int(time.time()) - 60
    )
    assert late.status_code == 200
    assert billing.state(tenant_id) == ("free", [(sub_id, "canceled", False)])


def test_trial_will_end_emails_the_owner(
    smtp_server: Any, app_config: dict[str, Any], billing: Billing, factory: Factory
) -> None:
    billing.app.config["STRIPE_TRIAL_DAYS"] = 14
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    response = billing.send(
        "customer.subscription.trial_will_end", billing.subscription_json(sub_id)
    )
    assert response.status_code == 200
    assert billing.state(tenant_id) == ("pro", [(sub_id, "trialing", False)])
    [mail] = smtp_server.wait_for(1)
    assert "trial ends" in mail["Subject"]
    assert "$29.00 per month" in mail.get_content()


@pytest.mark.parametrize("kind", ["invoice.paid", "invoice.payment_succeeded"])
def test_paid_invoices_sync_the_period(
    billing: Billing, subscribed: tuple[int, str], kind: str
) -> None:
    tenant_id, sub_id = subscribed
    response = billing.send(kind, billing.latest_invoice_json(sub_id))
    assert response.status_code == 200
    assert billing.state(tenant_id) == ("pro", [(sub_id, "active", False)])
    with billing.app.app_context():
        from portal.extensions import db
        from portal.models import Subscription

        row = db.session.query(Subscription).one()
        remote = billing.stripe.v1.subscriptions.retrieve(sub_id)
        assert int(row.current_period_end.timestamp()) == remote.items.data[0].current_period_end


def test_payment_failed_emails_a_link_to_the_payment_method_page(
    smtp_server: Any, billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, sub_id = subscribed
    invoice = billing.latest_invoice_json(sub_id)
    response = billing.send("invoice.payment_failed", invoice)
    assert response.status_code == 200
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Action needed: your CONTINUUM payment failed"
    body = mail.get_content()
    assert "http://portal.test/billing/#payment-methods" in body
    assert "$29.00" in body
    assert "4242" not in body  # no card data in mail


def test_a_failed_invoice_without_a_subscription_sends_nothing(
    smtp_server: Any, billing: Billing, subscribed: tuple[int, str]
) -> None:
    _, sub_id = subscribed
    invoice = {**billing.latest_invoice_json(sub_id), "parent": None}
    assert billing.send("invoice.payment_failed", invoice).status_code == 200
    assert smtp_server.messages == []


def test_payment_action_required_emails_the_confirmation_link(
    smtp_server: Any, billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, sub_id = subscribed
    invoice = billing.latest_invoice_json(sub_id)
    assert billing.send("invoice.payment_action_required", invoice).status_code == 200
    [mail] = smtp_server.wait_for(1)
    assert "confirm" in mail["Subject"]
    assert invoice["hosted_invoice_url"] in mail.get_content()


@pytest.mark.parametrize("kind", ["payment_method.attached", "payment_method.detached"])
def test_payment_method_events_are_acknowledged(
    billing: Billing, subscribed: tuple[int, str], kind: str
) -> None:
    tenant_id, _ = subscribed
    customer = billing.customer_id(tenant_id)
    [method] = billing.stripe.v1.payment_methods.list({"customer": customer, "type": "card"}).data
    before = billing.state(tenant_id)
    assert billing.send(kind, method.to_dict(for_json=True)).status_code == 200
    assert billing.state(tenant_id) == before


def test_customer_created_links_a_customer_whose_id_we_lost(
    billing: Billing, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    customer = billing.stripe.v1.customers.create({"metadata": {"tenant_id": str(tenant_id)}})
    assert billing.customer_id(tenant_id) is None
    assert billing.send("customer.created", customer.to_dict(for_json=True)).status_code == 200
    assert billing.customer_id(tenant_id) == customer.id


def test_customer_updated_never_relinks_a_linked_tenant(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, _ = subscribed
    linked = billing.customer_id(tenant_id)
    other = billing.stripe.v1.customers.create({"metadata": {"tenant_id": str(tenant_id)}})
    assert billing.send("customer.updated", other.to_dict(for_json=True)).status_code == 200
    assert billing.customer_id(tenant_id) == linked


def test_customer_deleted_unlinks_and_downgrades(
    billing: Billing, subscribed: tuple[int, str]
) -> None:
    tenant_id, sub_id = subscribed
    customer = billing.customer_id(tenant_id)
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    deleted = {"id": customer, "object": "customer", "deleted": True}
    assert billing.send("customer.deleted", deleted).status_code == 200
    assert billing.customer_id(tenant_id) is None
    assert billing.state(tenant_id) == ("free", [(sub_id, "canceled", False)])


EVENTS_FOR_A_STRANGER = [
    "checkout.session.completed",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "payment_method.attached",
]


@pytest.mark.parametrize("kind", EVENTS_FOR_A_STRANGER)
def test_events_for_a_customer_not_in_our_database_do_nothing(
    smtp_server: Any, billing: Billing, subscribed: tuple[int, str], kind: str
) -> None:
    tenant_id, sub_id = subscribed
    stranger = billing.stripe.v1.customers.create({"email": "stranger@example.com"})
    objects = {
        "checkout": {
            "id": "cs_test_stranger",
            "object": "checkout.session",
            "customer": stranger.id,
            "mode": "subscription",
            "subscription": sub_id,
        },
        "customer": billing.customer_json(stranger.id),
        "subscription": {**billing.subscription_json(sub_id), "customer": stranger.id},
        "invoice": {**billing.latest_invoice_json(sub_id), "customer": stranger.id},
        "payment_method": {
            "id": "pm_stranger",
            "object": "payment_method",
            "customer": stranger.id,
            "type": "card",
        },
    }
    family = kind.split(".")[0] if not kind.startswith("customer.subscription") else "subscription"
    response = billing.send(kind, objects[family])
    assert response.status_code == 200
    assert billing.state(tenant_id) == ("free", [])
    assert billing.customer_id(tenant_id) is not None
    assert smtp_server.messages == []


def test_unknown_event_types_are_acknowledged_and_recorded(billing: Billing) -> None:
    event = event_json("charge.refunded", {"id": "ch_1", "object": "charge"})
    response = billing.post(event)
    assert response.status_code == 200
    row = billing.event_row(event["id"])
    assert row is not None and row.processed_at is not None and row.error is None


def test_changes_and_failures_are_logged_without_card_data(
    billing: Billing, subscribed: tuple[int, str], caplog: pytest.LogCaptureFixture
) -> None:
    tenant_id, sub_id = subscribed
    with caplog.at_level(logging.INFO, logger="continuum.billing"):
        billing.send("customer.subscription.created", billing.subscription_json(sub_id))
        billing.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
        billing.send("customer.subscription.updated", billing.subscription_json(sub_id))
        billing.send("invoice.payment_failed", billing.latest_invoice_json(sub_id))
    billing_lines = [r.getMessage() for r in caplog.records if r.name == "continuum.billing"]
    text = "\n".join(billing_lines)
    assert f"subscription {sub_id} created: active continuum_pro_monthly" in text
    assert "cancels at period end" in text
    assert "payment failed" in text
    assert "4242" not in text and "sk_test" not in text and "whsec" not in text
