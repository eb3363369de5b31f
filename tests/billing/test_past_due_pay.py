# ruff: noqa: F811  (fixtures imported from test_lifecycle_e2e are this module's parameters)
"""A fixed card ends past-due at once, end to end: a served portal, the simulator on a test
clock, card 0341 (attaches, then every charge is declined), then 4242."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from stripe_sim.testing import SimulatorProcess

from .conftest import CARD_FAILS_LATER, Billing
from .test_lifecycle_e2e import (  # noqa: F401 - fixtures
    DAY,
    Person,
    clock,
    eventually,
    person,
    portal_url,
    tenant_tier,
    upgrade,
)

pytestmark = pytest.mark.both_dbs

PAY_BUTTON = re.compile(r"Pay \$(\d+\.\d\d) now with Visa •••• (\d{4})")


def _past_due_with_0341(billing: Billing, clock: Callable[[int], None], person: Person) -> str:
    """Pro on a trial paid with 0341; the trial ends and the first charge fails."""
    billing.app.config["STRIPE_TRIAL_DAYS"] = 7
    upgrade(person, billing.sim, CARD_FAILS_LATER)
    clock(8 * DAY)
    eventually(lambda: billing.state(1)[1][0][1] == "past_due")
    page = person.get("/billing/").text
    assert "past-due-banner" in page
    return page


def _pay_now(person: Person, page: str) -> tuple[str, str]:
    """The one-click button's amount and card, and the card id its form sends."""
    button = PAY_BUTTON.search(page)
    assert button, "no one-click pay button"
    card_id = re.search(r'name="payment_method" value="(pm_[^"]+)"', page)
    assert card_id
    return button.group(2), card_id.group(1)


def test_a_declined_card_says_why_and_a_working_card_picked_in_place_clears_past_due(
    billing: Billing, clock: Callable[[int], None], person: Person, sim: SimulatorProcess
) -> None:
    page = _past_due_with_0341(billing, clock, person)
    last4, card_id = _pay_now(person, page)
    assert last4 == "0341"
    assert "we try the card on file again on" in page

    declined = person.post("/billing/pay-now", {"payment_method": card_id}, "/billing/")
    assert declined.status_code == 402
    assert "Your bank declined Visa •••• 0341: “Your card was declined.”" in declined.text
    assert re.search(r"We try the card on file again on \d{1,2} \w{3} \d{4} \(UTC\)", declined.text)
    assert "past-due-banner" in declined.text
    assert billing.state(1)[1][0][1] == "past_due"
    said = re.search(r"We try the card on file again on (\d{1,2} \w{3} \d{4})", declined.text)
    shown = re.search(r"again on <strong><time[^>]*>(\d{1,2} \w{3} \d{4})", declined.text)
    assert said and shown and said[1] == shown[1]  # the notice and the retry line agree

    customer = billing.customer_id(1)
    good = billing.stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer})
    # Stripe tells the portal with payment_method.attached: the billing page's mirror learns it.
    assert billing.send("payment_method.attached", good.to_dict(for_json=True)).status_code == 200
    page = person.get("/billing/").text
    assert "Make default and pay $" in page
    # Picking the saved 4242 from the page, as htmx sends it: the whole page comes back.
    picked = person.http.post(
        f"{person.base}/billing/payment-methods/{good.id}/default",
        data={"csrf_token": person.token("/billing/")},
        headers={"HX-Request": "true", "HX-Target": "payment-methods"},
        timeout=30,
    )
    assert picked.status_code == 200, picked.text[:500]
    assert picked.headers["HX-Retarget"] == "body"
    assert "Visa ending 4242 is now your default card. Paid $" in picked.text
    assert "Your plan is active again." in picked.text
    assert "past-due-banner" not in picked.text
    assert billing.state(1)[1][0][1] == "active"
    assert tenant_tier(billing.app)[0] == "pro"
    paid = billing.stripe.v1.invoices.list({"customer": customer, "status": "paid"}).data
    assert any(invoice.amount_paid > 0 for invoice in paid)


def test_adding_a_card_while_past_due_pays_the_open_invoice_with_it(
    billing: Billing, clock: Callable[[int], None], person: Person, sim: SimulatorProcess
) -> None:
    _past_due_with_0341(billing, clock, person)
    started = person.post("/billing/payment-methods/add", {}, "/billing/")
    assert started.status_code == 303 and started.headers["Location"].startswith(sim.url)
    saved = sim.pay_checkout(started.headers["Location"], "4242424242424242")
    assert saved.location, saved.body[:300]
    back = person.follow(saved.location)
    assert back.status_code == 303
    page = person.get("/billing/").text
    assert "Your new card is saved and is now the default. Paid $" in page
    assert "past-due-banner" not in page
    assert billing.state(1)[1][0][1] == "active"


def test_pay_now_refuses_a_card_of_another_account_and_a_tenant_with_nothing_due(
    billing: Billing, clock: Callable[[int], None], person: Person
) -> None:
    nothing = person.post("/billing/pay-now", {"payment_method": "pm_123"}, "/billing/")
    assert nothing.status_code == 409 and "Nothing is due" in nothing.text
    _past_due_with_0341(billing, clock, person)
    stranger = billing.stripe.v1.customers.create({"name": "stranger"})
    theirs = billing.stripe.v1.payment_methods.attach("pm_card_visa", {"customer": stranger.id})
    refused = person.post("/billing/pay-now", {"payment_method": theirs.id}, "/billing/")
    assert refused.status_code == 404 and "no such card" in refused.text
    junk = person.post("/billing/pay-now", {"payment_method": "<script>"}, "/billing/")
    assert junk.status_code == 404
    assert billing.state(1)[1][0][1] == "past_due"
