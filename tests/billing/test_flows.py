"""The browser side of Checkout: start, success (verified server-side), cancel, failures."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from stripe_sim.testing import SimulatorProcess
from tests.factory import Factory, PortalClient
from tests.outage import stripe_unreachable

from .conftest import CARD_3DS, CARD_DECLINED, CARD_OK, Billing


@pytest.fixture
def signed_in(billing: Billing, factory: Factory) -> PortalClient:
    """``billing.client``, signed in as the owner of tenant 1."""
    factory.account().sign_in(billing.client)
    return billing.client


def _start(client: PortalClient, interval: str = "month") -> TestResponse:
    return client.post_form("/billing/checkout", {"interval": interval}, token_from="/keys")


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_upgrade_with_4242_applies_pro_on_the_success_page(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess
) -> None:
    started = _start(signed_in, "month")
    assert started.status_code == 303
    assert started.location.startswith(f"{sim.url}/checkout/cs_")
    paid = sim.pay_checkout(started.location, CARD_OK)
    assert paid.location.startswith("http://portal.test/billing/success?session_id=cs_")
    back = billing.client.get(_local(paid.location))
    assert back.status_code == 303 and back.location == "/billing/"
    page = billing.client.get("/billing/")
    assert "Welcome to Pro" in page.get_data(as_text=True)
    tier, subs = billing.state(1)
    assert tier == "pro" and subs[0][1] == "active"


def test_the_3184_card_completes_after_authentication(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess
) -> None:
    started = _start(signed_in, "year")
    paid = sim.pay_checkout(started.location, CARD_3DS, authenticate=True)
    assert paid.location and "/billing/success" in paid.location
    billing.client.get(_local(paid.location))
    assert billing.state(1)[0] == "pro"


def test_a_failed_authentication_leaves_the_tenant_free(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess
) -> None:
    started = _start(signed_in)
    result = sim.pay_checkout(started.location, CARD_3DS, authenticate=False)
    assert result.location is None or "/billing/success" not in result.location
    assert billing.state(1) == ("free", [])


def test_a_declined_card_leaves_the_tenant_free_with_a_clear_message(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess
) -> None:
    started = _start(signed_in)
    declined = sim.pay_checkout(started.location, CARD_DECLINED)
    assert declined.location is None
    assert "declined" in declined.body.lower()
    back = billing.client.get("/billing/cancelled", follow_redirects=True)
    assert "Nothing was charged and your plan is unchanged" in back.get_data(as_text=True)
    assert billing.state(1) == ("free", [])


def test_the_success_page_never_trusts_the_query_string(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess, factory: Factory
) -> None:
    other_tenant = factory.account(email="other@example.com").tenant_id
    theirs = billing.start_checkout(other_tenant)
    sim.pay_checkout(theirs.url, CARD_OK)
    for session_id in (theirs.session_id, "cs_test_madeup", "not-a-session", ""):
        response = billing.client.get(
            f"/billing/success?session_id={session_id}", follow_redirects=True
        )
        assert response.status_code == 200
        assert billing.state(1) == ("free", [])
    assert billing.state(other_tenant) == ("free", [])


def test_an_unpaid_session_changes_nothing(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess
) -> None:
    started = _start(signed_in)
    session_id = started.location.rsplit("/", 1)[1]
    response = billing.client.get(
        f"/billing/success?session_id={session_id}", follow_redirects=True
    )
    assert "was not completed" in response.get_data(as_text=True)
    assert billing.state(1) == ("free", [])


def test_interval_must_be_monthly_or_yearly(billing: Billing, signed_in: PortalClient) -> None:
    response = _start(signed_in, "weekly")
    assert response.status_code == 303
    page = billing.client.get(response.location)
    assert "Choose monthly or yearly billing." in page.get_data(as_text=True)
    assert billing.customer_id(1) is None


def test_a_second_upgrade_is_refused_while_subscribed(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess
) -> None:
    paid = sim.pay_checkout(_start(signed_in).location, CARD_OK)
    billing.client.get(_local(paid.location))
    again = _start(signed_in)
    assert again.status_code == 303 and again.location == "/billing/upgrade"
    assert len(billing.stripe.v1.subscriptions.list({"status": "all"}).data) == 1


def test_stripe_unreachable_shows_a_friendly_page_and_writes_nothing(
    billing: Billing, signed_in: PortalClient
) -> None:
    with stripe_unreachable(billing.app):
        response = _start(signed_in)
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "could not reach our payment provider" in body
    assert "Traceback" not in body
    assert billing.customer_id(1) is None
    assert billing.state(1) == ("free", [])


def test_checkout_needs_a_signed_in_user(billing: Billing, client: FlaskClient) -> None:
    assert client.get("/billing/success?session_id=cs_x").status_code == 302


@pytest.mark.parametrize(
    ("status", "allowed"), [("incomplete", True), ("canceled", True), ("past_due", False)]
)
def test_a_new_checkout_depends_on_the_old_subscription(
    billing: Billing,
    signed_in: PortalClient,
    sim: SimulatorProcess,
    status: str,
    allowed: bool,
    factory: Factory,
) -> None:
    from portal.models import utcnow

    past_due_since = utcnow() if status == "past_due" else None
    factory.subscription(1, status, stripe_id="sub_old", past_due_since=past_due_since)
    response = _start(signed_in)
    assert response.status_code == 303
    assert response.location.startswith(sim.url) is allowed
    if not allowed:
        page = billing.client.get(response.location).get_data(as_text=True)
        assert "Update your card" in page


def test_two_tabs_share_one_checkout_and_only_the_newest_plan_can_be_paid(
    billing: Billing, signed_in: PortalClient, sim: SimulatorProcess
) -> None:
    first_tab = _start(signed_in).location
    assert _start(signed_in).location == first_tab  # the same plan: the open checkout again
    second_tab = _start(signed_in, "year").location
    stale = sim.pay_checkout(first_tab, CARD_OK)
    assert stale.location is None and "expired" in stale.body.lower()
    paid = sim.pay_checkout(second_tab, CARD_OK)
    billing.client.get(_local(paid.location))
    assert billing.state(1)[0] == "pro"
    assert len(billing.stripe.v1.subscriptions.list({"status": "all"}).data) == 1
