"""Plan changes, cards and the catalog bootstrap, through the domain functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from portal.billing import checkout, payment_methods, plan_changes
from portal.errors import Conflict, NotFound
from portal.extensions import db
from portal.models import Tenant
from tests.factory import Factory

from .conftest import CARD_FAILS_LATER, Billing


@pytest.fixture
def pro(billing: Billing, factory: Factory) -> Iterator[Tenant]:
    """A synced Pro tenant on monthly billing, inside a request context."""
    tenant_id = factory.account().tenant_id
    started = billing.start_checkout(tenant_id)
    billing.sim.pay_checkout(started.url)
    with billing.app.test_request_context():
        tenant = db.session.get(Tenant, tenant_id)
        checkout.complete_checkout(tenant, started.session_id)
        yield tenant


def test_yearly_switch_charges_what_the_preview_showed(billing: Billing, pro: Tenant) -> None:
    preview = plan_changes.preview_interval_switch(pro, "year")
    assert preview.interval == "year"
    assert any(line.proration and line.amount < 0 for line in preview.lines)
    assert 0 < preview.amount_due <= 27840
    result = plan_changes.switch_interval(pro, "year", str(preview.proration_date))
    assert result.subscription.interval == "year"
    assert result.subscription.price_lookup_key == "continuum_pro_yearly"
    assert pro.tier == "pro"
    invoices = billing.stripe.v1.invoices.list({"customer": pro.stripe_customer_id}).data
    assert invoices[0].amount_due == preview.amount_due


def test_switching_to_the_current_interval_is_refused(pro: Tenant) -> None:
    with pytest.raises(Conflict, match="already billed per month"):
        plan_changes.preview_interval_switch(pro, "month")


def test_a_preview_date_outside_the_period_is_refused(pro: Tenant) -> None:
    with pytest.raises(Conflict, match="Preview again"):
        plan_changes.switch_interval(pro, "year", 1)
    with pytest.raises(Exception, match="preview it again"):
        plan_changes.switch_interval(pro, "year", "soon")


def test_cancel_at_period_end_keeps_pro_and_resume_undoes_it(pro: Tenant) -> None:
    canceled = plan_changes.cancel_at_period_end(pro)
    assert canceled.subscription.cancel_at_period_end and pro.tier == "pro"
    with pytest.raises(Conflict):
        plan_changes.cancel_at_period_end(pro)
    resumed = plan_changes.resume(pro)
    assert not resumed.subscription.cancel_at_period_end and pro.tier == "pro"
    with pytest.raises(Conflict, match="can be resumed"):
        plan_changes.resume(pro)


def test_cancel_now_moves_to_free_and_says_so(smtp_server: Any, pro: Tenant) -> None:
    result = plan_changes.cancel_now(pro)
    assert result.downgraded and pro.tier == "free"
    [mail] = smtp_server.wait_for(1)
    assert "Free tier" in mail["Subject"]
    with pytest.raises(NotFound):
        plan_changes.cancel_now(pro)


def test_the_last_card_of_a_renewing_plan_cannot_be_removed(billing: Billing, pro: Tenant) -> None:
    [card] = payment_methods.list_payment_methods(pro)
    with pytest.raises(Conflict, match="only card"):
        payment_methods.remove_payment_method(pro, card.id)
    plan_changes.cancel_at_period_end(pro)
    payment_methods.remove_payment_method(pro, card.id)
    assert payment_methods.list_payment_methods(pro) == []


def test_a_card_added_in_setup_mode_becomes_the_default(billing: Billing, pro: Tenant) -> None:
    started = checkout.start_add_payment_method(pro)
    session = billing.stripe.v1.checkout.sessions.retrieve(started.session_id)
    assert session.mode == "setup"
    billing.sim.pay_checkout(started.url, CARD_FAILS_LATER)
    new_card = checkout.complete_setup(pro, started.session_id)
    cards = payment_methods.list_payment_methods(pro)
    assert [card.last4 for card in cards] == ["0341", "4242"]
    assert cards[0].id == new_card and cards[0].is_default
    sub = billing.stripe.v1.subscriptions.list({"customer": pro.stripe_customer_id}).data[0]
    assert sub.default_payment_method == new_card
    payment_methods.remove_payment_method(pro, cards[1].id)
    assert [card.last4 for card in payment_methods.list_payment_methods(pro)] == ["0341"]


def test_another_customers_card_is_not_found(
    billing: Billing, pro: Tenant, factory: Factory
) -> None:
    other = factory.account(email="other@example.com").tenant_id
    billing.sim.pay_checkout(billing.start_checkout(other).url)
    with billing.app.app_context():
        other_customer = db.session.get(Tenant, other).stripe_customer_id
    [theirs] = billing.stripe.v1.payment_methods.list(
        {"customer": other_customer, "type": "card"}
    ).data
    with pytest.raises(NotFound):
        payment_methods.remove_payment_method(pro, theirs.id)
    with pytest.raises(NotFound):
        payment_methods.set_default_payment_method(pro, theirs.id)


def test_the_hosted_billing_portal_needs_a_customer(
    billing: Billing, pro: Tenant, factory: Factory
) -> None:
    url = checkout.open_billing_portal(pro, "http://portal.test/billing/")
    assert url.startswith(billing.sim.url)
    new = factory.account(email="new@example.com").tenant_id
    with pytest.raises(Conflict, match="once you have upgraded"):
        checkout.open_billing_portal(db.session.get(Tenant, new), "http://portal.test/billing/")


def test_resync_recovers_missed_webhooks(
    billing: Billing, runner: FlaskCliRunner, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)  # paid at Stripe; no webhook reached us
    assert billing.state(tenant_id) == ("free", [])
    result = runner.invoke(args=["stripe", "resync"])
    assert result.exit_code == 0, result.output
    assert f"tenant {tenant_id}: {sub_id} active -> pro" in result.output
    assert billing.state(tenant_id) == ("pro", [(sub_id, "active", False)])


def test_bootstrap_is_idempotent(app: Flask, runner: FlaskCliRunner, sim: Any) -> None:
    first = runner.invoke(args=["stripe", "bootstrap"])
    assert first.exit_code == 0, first.output
    # two plan prices, the meter, the metered price, the billing portal configuration
    assert first.output.count("created") == 5
    assert "continuum_pro_monthly" in first.output and "$29.00 per month" in first.output
    assert "$278.40 per year" in first.output
    assert "meter continuum_api_calls_overage" in first.output
    assert "continuum_pro_api_calls" in first.output
    second = runner.invoke(args=["stripe", "bootstrap"])
    assert second.output.count("found") == 5 and "created" not in second.output
    prices = (
        sim.client()
        .v1.prices.list({"lookup_keys": ["continuum_pro_monthly", "continuum_pro_yearly"]})
        .data
    )
    assert len(prices) == 2 and len({price.product for price in prices}) == 1
    products = sim.client().v1.products.list().data
    assert [product.name for product in products] == ["CONTINUUM Pro"]
