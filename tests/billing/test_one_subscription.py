"""One paid subscription per tenant (issue 12 item 5): Stripe is asked before a Checkout
Session is made, and two completed checkouts (a race) end with one subscription, a prorated
credit, a log line and a notice to the owner."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from portal.billing.checkout import complete_checkout
from portal.billing.one_subscription import DUPLICATE_MESSAGE
from portal.errors import Conflict
from portal.extensions import db
from portal.models import Tenant
from portal.plans import OVERAGE_PRICE_LOOKUP_KEY
from portal.stripe_gateway import get_gateway
from tests.factory import Factory

from .conftest import CARD_OK, Billing

# Every rule holds on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_dbs


def test_a_checkout_paid_without_the_success_page_blocks_a_second_one(
    billing: Billing, factory: Factory
) -> None:
    """Checkout 1 paid, success page never visited, no webhook yet: our mirror knows nothing,
    but Stripe does, so Checkout 2 is refused."""
    tenant_id = factory.account().tenant_id
    billing.subscribe(tenant_id)
    assert billing.state(tenant_id) == ("free", [])
    with pytest.raises(Conflict, match="already has a Pro subscription"):
        billing.start_checkout(tenant_id)
    assert len(billing.stripe.v1.subscriptions.list({"status": "all"}).data) == 1


def test_an_open_checkout_for_the_same_price_is_reused(billing: Billing, factory: Factory) -> None:
    tenant_id = factory.account().tenant_id
    first = billing.start_checkout(tenant_id)
    again = billing.start_checkout(tenant_id)
    assert (again.session_id, again.url) == (first.session_id, first.url)
    yearly = billing.start_checkout(tenant_id, "year")
    assert yearly.session_id != first.session_id
    old = billing.stripe.v1.checkout.sessions.retrieve(first.session_id)
    assert old.status == "expired"  # only the newest checkout can be paid


def _racing_checkout(billing: Billing, tenant_id: int) -> Any:
    """A second tab's session, made at Stripe before the first tab's was paid (both passed the
    check at the same moment)."""
    with billing.app.test_request_context():
        gateway = get_gateway()
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant.stripe_customer_id
        monthly = gateway.price_by_lookup_key("continuum_pro_monthly")
        metered = gateway.price_by_lookup_key(OVERAGE_PRICE_LOOKUP_KEY)
        return gateway.create_subscription_checkout(
            customer_id=tenant.stripe_customer_id,
            tenant_id=tenant_id,
            price_id=monthly.id,
            metered_price_id=metered.id,
            success_url="http://portal.test/billing/success?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="http://portal.test/billing/cancelled",
        )


def test_two_completed_checkouts_leave_one_subscription_and_a_credit(
    smtp_server: Any, billing: Billing, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    tenant_id = factory.account().tenant_id
    first = billing.start_checkout(tenant_id)
    second = _racing_checkout(billing, tenant_id)
    assert billing.sim.pay_checkout(first.url, CARD_OK).status == 303
    assert billing.sim.pay_checkout(second.url, CARD_OK).status == 303
    first_sub = billing.stripe.v1.checkout.sessions.retrieve(first.session_id).subscription
    second_sub = billing.stripe.v1.checkout.sessions.retrieve(second.id).subscription
    with caplog.at_level(logging.WARNING, logger="continuum.billing"):
        with billing.app.test_request_context():
            complete_checkout(db.session.get(Tenant, tenant_id), second.id)
            from flask import get_flashed_messages

            assert DUPLICATE_MESSAGE in get_flashed_messages()
    tier, rows = billing.state(tenant_id)
    assert tier == "pro"
    # The older one is kept (created the same second here: then the one mirrored first).
    assert {row[0] for row in rows} == {first_sub, second_sub}
    assert sorted(row[1] for row in rows) == ["active", "canceled"]
    live = billing.stripe.v1.subscriptions.list({"customer": billing.customer_id(tenant_id)})
    assert [sub.id for sub in live.data] == [row[0] for row in rows if row[1] == "active"]
    customer = billing.stripe.v1.customers.retrieve(str(billing.customer_id(tenant_id)))
    assert customer.balance < -2800  # the unused month ($29.00) is credited
    assert any("second paid subscription" in r.getMessage() for r in caplog.records)
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Your second CONTINUUM Pro subscription was canceled"
    assert "credited" in mail.get_content()


def test_the_webhook_of_the_second_checkout_settles_the_duplicate_too(
    smtp_server: Any, billing: Billing, factory: Factory
) -> None:
    tenant_id = factory.account().tenant_id
    first = billing.start_checkout(tenant_id)
    second = _racing_checkout(billing, tenant_id)
    billing.sim.pay_checkout(first.url, CARD_OK)
    billing.sim.pay_checkout(second.url, CARD_OK)
    for session_id in (first.session_id, second.id):
        session = billing.stripe.v1.checkout.sessions.retrieve(session_id)
        response = billing.send("checkout.session.completed", session.to_dict(for_json=True))
        assert response.status_code == 200
    live = billing.stripe.v1.subscriptions.list({"customer": billing.customer_id(tenant_id)})
    assert len(live.data) == 1
    assert billing.state(tenant_id)[0] == "pro"
    [mail] = smtp_server.wait_for(1)
    assert "canceled" in mail["Subject"]
