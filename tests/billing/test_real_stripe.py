"""What the portal must do itself to work against real Stripe, not only the simulator
(issue 12 item 9): setup-mode Checkout sends ``currency``, bootstrap makes the billing portal
configuration (and, given a URL, the webhook endpoint), the card paid at Checkout becomes the
customer's default, and paused collection carries no paid tier."""

from __future__ import annotations

import pytest
import stripe
from flask import Flask

from portal.billing.checkout import complete_checkout, start_add_payment_method
from portal.billing.cli import bootstrap_catalog, bootstrap_webhook_endpoint
from portal.billing.subscriptions import apply_subscription
from portal.extensions import db
from portal.models import Tenant
from portal.stripe_gateway import StripeSubscription, get_gateway
from portal.webhooks.handlers import HANDLERS
from tests.factory import Factory

from .conftest import Billing

# Every rule holds on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_dbs


def test_setup_mode_checkout_sends_currency(billing: Billing, factory: Factory) -> None:
    tenant_id = factory.account().tenant_id
    with billing.app.test_request_context():
        started = start_add_payment_method(db.session.get(Tenant, tenant_id))
    session = billing.stripe.v1.checkout.sessions.retrieve(started.session_id)
    assert session.mode == "setup" and session.currency == "usd"


def test_bootstrap_makes_the_portal_configuration_once_and_sessions_name_it(
    billing: Billing, factory: Factory
) -> None:
    configs = billing.stripe.v1.billing_portal.configurations.list().data
    assert len(configs) == 1 and configs[0].metadata.to_dict() == {"continuum_portal": "1"}
    assert configs[0].features.payment_method_update.enabled
    assert not configs[0].features.subscription_cancel.enabled
    with billing.app.app_context():
        lines = bootstrap_catalog()
    assert f"found   billing portal configuration: {configs[0].id}" in lines
    assert len(billing.stripe.v1.billing_portal.configurations.list().data) == 1
    customer = billing.stripe.v1.customers.create({"email": "p@example.com"})
    with billing.app.app_context():
        url = get_gateway().create_billing_portal_session(customer.id, "http://portal.test/b")
    session_id = url.rsplit("/", 1)[-1]
    assert session_id.startswith("bps_")


def test_bootstrap_creates_the_webhook_endpoint_on_the_pinned_version(
    billing: Billing, app: Flask
) -> None:
    result = app.test_cli_runner().invoke(
        args=["stripe", "bootstrap", "--webhook-url", "https://portal.test/billing/webhook"]
    )
    assert result.exit_code == 0, result.output
    hook = billing.stripe.v1.webhook_endpoints.list().data[0]
    assert hook.url == "https://portal.test/billing/webhook"
    assert hook.api_version == stripe.api_version == "2026-10-28.endive"
    assert sorted(hook.enabled_events) == sorted(HANDLERS)
    secret_lines = [line for line in result.output.splitlines() if "whsec_" in line]
    assert len(secret_lines) == 1 and "shown once" in secret_lines[0]
    again = app.test_cli_runner().invoke(
        args=["stripe", "bootstrap", "--webhook-url", "https://portal.test/billing/webhook"]
    )
    assert "found   webhook endpoint" in again.output and "whsec_" not in again.output
    assert len(billing.stripe.v1.webhook_endpoints.list().data) == 1
    with app.app_context():
        try:
            bootstrap_webhook_endpoint("ftp://x")
        except Exception as error:  # noqa: BLE001 - the CLI's own parameter error
            assert "http(s) URL" in str(error)
        else:
            raise AssertionError("a non-http URL was accepted")


def test_the_card_paid_at_checkout_becomes_the_customers_default(
    billing: Billing, factory: Factory
) -> None:
    """Stripe's Checkout pins the card on the subscription only; the success page makes it
    the customer's default."""
    tenant_id = factory.account().tenant_id
    started = billing.start_checkout(tenant_id)
    billing.sim.pay_checkout(started.url)
    customer_id = billing.customer_id(tenant_id)
    assert customer_id is not None
    before = billing.stripe.v1.customers.retrieve(customer_id)
    assert before.invoice_settings.default_payment_method is None
    with billing.app.test_request_context():
        complete_checkout(db.session.get(Tenant, tenant_id), started.session_id)
    session = billing.stripe.v1.checkout.sessions.retrieve(started.session_id)
    sub = billing.stripe.v1.subscriptions.retrieve(str(session.subscription))
    after = billing.stripe.v1.customers.retrieve(customer_id)
    assert after.invoice_settings.default_payment_method == sub.default_payment_method


def test_the_webhook_makes_the_checkout_card_the_default_too(
    billing: Billing, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    started = billing.start_checkout(tenant_id)
    billing.sim.pay_checkout(started.url)
    session = billing.stripe.v1.checkout.sessions.retrieve(started.session_id)
    assert (
        billing.send("checkout.session.completed", session.to_dict(for_json=True)).status_code
        == 200
    )
    sub = billing.stripe.v1.subscriptions.retrieve(str(session.subscription))
    customer = billing.stripe.v1.customers.retrieve(str(session.customer))
    assert customer.invoice_settings.default_payment_method == sub.default_payment_method


def test_paused_collection_is_mirrored_and_carries_no_paid_tier(
    billing: Billing, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    paused = billing.subscription_json(sub_id)
    paused["pause_collection"] = {"behavior": "void", "resumes_at": None}
    remote = StripeSubscription.of(stripe.Subscription.construct_from(paused, "sk_test"))
    with billing.app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        result = apply_subscription(tenant, remote)
        assert result.subscription.collection_paused == "void"
        assert tenant.tier == "free"
        resumed = billing.subscription_json(sub_id)
        result = apply_subscription(
            tenant, StripeSubscription.of(stripe.Subscription.construct_from(resumed, "sk_test"))
        )
        assert result.subscription.collection_paused is None and tenant.tier == "pro"
