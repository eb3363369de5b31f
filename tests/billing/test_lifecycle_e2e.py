"""End to end over HTTP: a served portal, the simulator's hosted Checkout, test clocks, and
signed webhooks delivered by the simulator to the portal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask

from portal.billing import plan_changes
from portal.extensions import db
from portal.models import StripeEvent, Tenant
from portal.stripe_gateway import get_gateway
from stripe_sim.testing import SimulatorProcess
from tests.factory import CSRF_INPUT, PASSWORD, Account, Factory
from tests.outage import stripe_unreachable

from .conftest import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_FAILS_LATER,
    CARD_OK,
    WEBHOOK_SECRET,
    Billing,
    event_json,
    sign,
)

#: The whole lifecycle runs on SQLite and, when reachable, PostgreSQL.
pytestmark = pytest.mark.both_dbs

DAY = 86400


class Person:
    """A browser without JavaScript: a cookie jar, forms with their CSRF tokens, no redirects."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=30)

    def token(self, path: str = "/keys") -> str:
        match = CSRF_INPUT.search(self.get(path).text)
        assert match, f"no form on {path}"
        return match.group(1)

    def post(self, path: str, data: dict[str, str], token_from: str = "/keys") -> requests.Response:
        form = {**data, "csrf_token": self.token(token_from)}
        return self.http.post(self.base + path, data=form, allow_redirects=False, timeout=30)

    def api(self, method: str, path: str, **json: Any) -> requests.Response:
        headers = {"X-CSRFToken": self.token()}
        return self.http.request(method, self.base + path, json=json, headers=headers, timeout=30)

    def follow(self, url: str) -> requests.Response:
        parts = urlsplit(url)
        return self.get(f"{parts.path}?{parts.query}")

    def sign_up(self, email: str = "owner@example.com") -> None:
        response = self.post("/signup", {"email": email, "password": PASSWORD}, "/signup")
        assert response.status_code in (302, 303), response.text[:300]

    def sign_in_as(self, account: Account) -> None:
        """Carry the account owner's session, as a browser that signed in earlier would."""
        cookie = account.browser_cookie(self.base)
        self.http.cookies.set(cookie["name"], cookie["value"], domain=urlsplit(self.base).hostname)


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the expected state never arrived"
        time.sleep(0.1)


@pytest.fixture
def clock(billing: Billing, app: Flask) -> Callable[[int], None]:
    """Puts new customers on a fresh test clock; the fixture's value advances it by seconds."""
    with app.app_context():
        gateway = get_gateway()
        created = gateway.create_test_clock(int(time.time()), "lifecycle")
    app.config["STRIPE_TEST_CLOCK"] = created.id

    def advance(seconds: int) -> None:
        with app.app_context():
            now = gateway.retrieve_test_clock(created.id).frozen_time
            assert gateway.advance_test_clock(created.id, now + seconds).status == "ready"

    return advance


@pytest.fixture
def portal_url(billing: Billing, live_server: Any, sim: SimulatorProcess) -> str:
    """The served portal, with the simulator delivering signed webhooks to it."""
    sim.add_webhook_endpoint(f"{live_server.url}/billing/webhook", WEBHOOK_SECRET)
    return str(live_server.url)


@pytest.fixture
def person(portal_url: str, factory: Factory) -> Person:
    """Signed in as the owner of tenant 1."""
    someone = Person(portal_url)
    someone.sign_in_as(factory.account())
    return someone


def upgrade(
    person: Person, sim: SimulatorProcess, card: str = CARD_OK, interval: str = "month", **pay: Any
) -> requests.Response | None:
    started = person.post("/billing/checkout", {"interval": interval})
    assert started.status_code == 303 and started.headers["Location"].startswith(sim.url)
    paid = sim.pay_checkout(started.headers["Location"], card, **pay)
    return person.follow(paid.location) if paid.location else None


def delivered(sim: SimulatorProcess) -> bool:
    rows = sim.deliveries()
    return bool(rows) and all(row["state"] == "delivered" for row in rows)


def tenant_tier(app: Flask) -> tuple[str, int]:
    with app.app_context():
        tenant = db.session.get(Tenant, 1)
        return tenant.tier, tenant.limits.api_calls_per_day


def test_sign_up_then_upgrade_with_4242_gives_pro_limits(
    billing: Billing, portal_url: str, sim: SimulatorProcess, db_backend: str
) -> None:
    person = Person(portal_url)
    person.sign_up()
    assert tenant_tier(billing.app) == ("free", 100)
    back = upgrade(person, sim)
    assert back is not None and back.status_code == 303
    assert "Welcome to Pro" in person.get("/billing/").text
    assert tenant_tier(billing.app) == ("pro", 10_000)
    eventually(lambda: delivered(sim))
    assert billing.state(1)[1][0][1] == "active"
    with billing.app.app_context():
        kinds = set(db.session.scalars(db.select(StripeEvent.type)))
        assert {"checkout.session.completed", "customer.subscription.created"} <= kinds
        assert (
            db.session.scalar(db.select(db.func.count()).where(StripeEvent.processed_at.is_(None)))
            == 0
        )
    assert person.api("GET", "/v1/billing/subscription").json()["tier"] == "pro"


def test_a_declined_card_stays_free_with_a_clear_message(
    billing: Billing, person: Person, sim: SimulatorProcess
) -> None:
    started = person.post("/billing/checkout", {"interval": "month"})
    declined = sim.pay_checkout(started.headers["Location"], CARD_DECLINED)
    assert declined.status == 402 and "declined" in declined.body.lower()
    back = person.get("/billing/cancelled")
    assert "Nothing was charged" in person.get(back.headers["Location"]).text
    assert tenant_tier(billing.app)[0] == "free"
    assert billing.stripe.v1.subscriptions.list({"status": "all"}).data == []


def test_the_3184_card_passes_authentication(
    billing: Billing, person: Person, sim: SimulatorProcess
) -> None:
    back = upgrade(person, sim, CARD_3DS, "year", authenticate=True)
    assert back is not None and back.status_code == 303
    assert tenant_tier(billing.app)[0] == "pro"
    assert billing.state(1)[1][0][1] == "active"


def test_failing_renewals_go_past_due_then_free(
    smtp_server: Any,
    billing: Billing,
    clock: Callable[[int], None],
    person: Person,
    sim: SimulatorProcess,
    db_backend: str,
) -> None:
    billing.app.config["STRIPE_TRIAL_DAYS"] = 7
    upgrade(person, sim, CARD_FAILS_LATER)
    assert billing.state(1)[1][0][1] == "trialing" and tenant_tier(billing.app)[0] == "pro"

    clock(8 * DAY)  # the trial ends; the first charge fails
    eventually(lambda: billing.state(1)[1][0][1] == "past_due")
    assert tenant_tier(billing.app)[0] == "pro"  # kept through the grace period
    mails = smtp_server.wait_for(2)  # the trial reminder, then the failure
    failed = [m for m in mails if "payment failed" in m["Subject"]]
    assert failed and f"{person.base}/billing/#payment-methods" in failed[0].get_content()
    assert "past-due-banner" in person.get("/billing/").text
    state = person.api("GET", "/v1/billing/subscription").json()["subscription"]
    assert state["past_due"] is True and state["past_due_grace_ends"]

    clock(30 * DAY)  # every retry fails; Stripe gives up and cancels
    eventually(lambda: tenant_tier(billing.app)[0] == "free")
    assert billing.state(1)[1][0][1] == "canceled"
    eventually(lambda: any("Free tier" in m["Subject"] for m in smtp_server.messages))
    assert "past-due-banner" not in person.get("/billing/").text


def test_cancel_at_period_end_keeps_pro_until_the_end(
    billing: Billing,
    clock: Callable[[int], None],
    person: Person,
    sim: SimulatorProcess,
    db_backend: str,
) -> None:
    upgrade(person, sim)
    canceled = person.api("POST", "/v1/billing/cancel-subscription", at_period_end=True)
    assert canceled.json()["subscription"]["cancel_at_period_end"] is True
    clock(10 * DAY)
    assert tenant_tier(billing.app)[0] == "pro"
    clock(25 * DAY)
    eventually(lambda: tenant_tier(billing.app)[0] == "free")
    assert billing.state(1)[1][0][1] == "canceled"


def test_resume_before_the_end_stays_pro_and_renews(
    billing: Billing, clock: Callable[[int], None], person: Person, sim: SimulatorProcess
) -> None:
    upgrade(person, sim)
    first_end = person.api("GET", "/v1/billing/subscription").json()["subscription"][
        "current_period_end"
    ]
    person.api("POST", "/v1/billing/cancel-subscription", at_period_end=True)
    with billing.app.test_request_context():
        plan_changes.resume(db.session.get(Tenant, 1))
    clock(35 * DAY)
    eventually(lambda: len(billing.stripe.v1.invoices.list({"status": "paid"}).data) == 2)
    eventually(lambda: delivered(sim))
    assert billing.state(1)[1][0][1:] == ("active", False)
    assert tenant_tier(billing.app)[0] == "pro"
    renewed = person.api("GET", "/v1/billing/subscription").json()["subscription"]
    assert renewed["current_period_start"] == first_end  # invoice.paid moved the period


def test_yearly_switch_shows_a_preview_then_charges_it(
    billing: Billing, person: Person, sim: SimulatorProcess
) -> None:
    upgrade(person, sim)
    with billing.app.test_request_context():
        tenant = db.session.get(Tenant, 1)
        preview = plan_changes.preview_interval_switch(tenant, "year")
        plan_changes.switch_interval(tenant, "year", preview.proration_date)
    latest = billing.stripe.v1.invoices.list({"limit": 1}).data[0]
    assert latest.amount_due == preview.amount_due
    eventually(lambda: delivered(sim))
    state = person.api("GET", "/v1/billing/subscription").json()["subscription"]
    assert state["interval"] == "year" and state["status"] == "active"


def test_duplicated_and_reordered_webhooks_converge(
    billing: Billing, person: Person, sim: SimulatorProcess, db_backend: str
) -> None:
    sim.set_switches(duplicate=True, hold=True)
    started = person.post("/billing/checkout", {"interval": "month"})
    sim.pay_checkout(started.headers["Location"], CARD_OK)  # no success page: webhooks only
    sub_id = billing.stripe.v1.subscriptions.list().data[0].id
    billing.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    assert billing.state(1) == ("free", [])
    sim.release_deliveries(reverse=True)
    eventually(lambda: delivered(sim))
    assert billing.state(1) == ("pro", [(sub_id, "active", True)])
    with billing.app.app_context():
        ids = list(db.session.scalars(db.select(StripeEvent.id)))
    assert len(ids) == len(set(ids)) == len({row["event_id"] for row in sim.deliveries()})


def _hostile_body(case: str, sub: dict[str, Any], stranger: str) -> tuple[bytes, str]:
    """The body and Stripe-Signature header of one hostile or foreign delivery."""
    if case == "malformed":
        body = b"{"
    elif case == "huge":
        body = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    else:
        customer = stranger if case == "stranger" else sub["customer"]
        canceled = {**sub, "status": "canceled", "customer": customer}
        body = json.dumps(event_json("customer.subscription.deleted", canceled)).encode()
    if case == "forged":
        return body, sign(body, secret="whsec_attacker")
    if case == "stale":
        return body, sign(body, timestamp=int(time.time()) - 600)
    return body, sign(body)


@pytest.mark.parametrize(
    ("case", "status"),
    [("forged", 400), ("stale", 400), ("malformed", 400), ("huge", 413), ("stranger", 200)],
)
def test_hostile_or_foreign_webhooks_change_nothing(
    billing: Billing, person: Person, sim: SimulatorProcess, case: str, status: int
) -> None:
    upgrade(person, sim)
    stranger = billing.stripe.v1.customers.create({"email": "x@example.com"}).id
    eventually(lambda: delivered(sim))
    before, events_before = billing.state(1), billing.event_count()
    sub = billing.subscription_json(before[1][0][0])
    body, signature = _hostile_body(case, sub, stranger)
    response = requests.post(
        f"{person.base}/billing/webhook",
        data=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status
    assert billing.state(1) == before
    # Only the foreign (but genuine) event is recorded, as processed with nothing to do.
    assert billing.event_count() == events_before + (1 if case == "stranger" else 0)


def test_stripe_unreachable_shows_a_friendly_page_and_writes_nothing(
    billing: Billing, person: Person
) -> None:
    with stripe_unreachable(billing.app):
        response = person.post("/billing/checkout", {"interval": "year"})
        page = person.get("/v1/billing/subscription")
    assert response.status_code == 503
    assert "could not reach our payment provider" in response.text
    assert page.json() == {"tier": "free", "subscription": None}
    assert billing.customer_id(1) is None
