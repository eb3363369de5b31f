"""The Stripe gateway: the only importer of ``stripe``, typed, and every error made actionable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import stripe
from flask import Flask

from portal.errors import BillingUnavailable, Conflict, PortalError
from portal.stripe_gateway import (
    PaymentDeclined,
    StripeGateway,
    StripeObjectMissing,
    gateway_for,
)
from portal.stripe_gateway.errors import _translated
from stripe_sim.testing import SimulatorProcess
from tests.outage import refused_url

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_gateway_imports_stripe_and_nothing_imports_pytest() -> None:
    """In portal/: `stripe` only inside `portal/stripe_gateway/`, `pytest` nowhere."""
    stripe_importers, pytest_importers = [], []
    for path in sorted((ROOT / "portal").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        if re.search(r"^\s*(import stripe\b|from stripe[ .])", text, re.M):
            stripe_importers.append(name)
        if re.search(r"^\s*(import pytest\b|from pytest\b|from _pytest\b)", text, re.M):
            pytest_importers.append(name)
    assert stripe_importers
    assert all(name.startswith("portal/stripe_gateway/") for name in stripe_importers)
    assert pytest_importers == []


def test_unreachable_stripe_is_billing_unavailable(sim: SimulatorProcess) -> None:
    with refused_url() as url, pytest.raises(BillingUnavailable) as caught:
        StripeGateway(sim.api_key, url).retrieve_customer("cus_anything")
    assert caught.value.status_code == 503
    assert "could not reach our payment provider" in caught.value.message
    assert "Nothing was charged" in caught.value.message


def test_a_missing_object_is_a_404_portal_error(sim: SimulatorProcess) -> None:
    with pytest.raises(StripeObjectMissing) as caught:
        StripeGateway(sim.api_key, sim.url).retrieve_subscription("sub_doesnotexist")
    assert caught.value.status_code == 404
    assert "no record" in caught.value.message


def test_a_refused_api_key_is_reported_as_misconfiguration(sim: SimulatorProcess) -> None:
    with pytest.raises(BillingUnavailable) as caught:
        StripeGateway("sk_test_wrong", sim.url).retrieve_customer("cus_1")
    assert "misconfigured" in caught.value.message
    assert "sk_test_wrong" not in caught.value.message


def test_reusing_an_idempotency_key_with_other_details_is_a_conflict(
    sim: SimulatorProcess,
) -> None:
    gateway = StripeGateway(sim.api_key, sim.url)
    first = gateway.create_customer(7, "a@example.com", "A")
    assert gateway.create_customer(7, "a@example.com", "A").id == first.id
    with pytest.raises(Conflict):
        gateway.create_customer(7, "b@example.com", "B")


def test_an_invalid_request_names_the_problem(sim: SimulatorProcess) -> None:
    gateway = StripeGateway(sim.api_key, sim.url)
    with pytest.raises(PortalError) as caught:
        gateway.create_price("prod_x", "continuum_pro_weekly", 100, "week")
    assert "per month or per year" in caught.value.message


@pytest.mark.parametrize(
    ("key", "base", "clock", "words"),
    [
        ("", "", "", "STRIPE_SECRET_KEY is not set"),
        ("sk_live_abc", "http://127.0.0.1:9", "", "never used with the simulator"),
        ("sk_live_abc", "", "clock_123", "test clock"),
    ],
)
def test_unsafe_configurations_are_refused(key: str, base: str, clock: str, words: str) -> None:
    with pytest.raises(BillingUnavailable) as caught:
        StripeGateway(key, base, clock)
    assert words in caught.value.message
    assert "sk_live_abc" not in caught.value.message


def test_the_app_gateway_is_rebuilt_when_its_settings_change(app: Flask) -> None:
    app.config.update(STRIPE_SECRET_KEY="sk_test_one", STRIPE_API_BASE="http://127.0.0.1:9")
    first = gateway_for(app)
    assert gateway_for(app) is first
    app.config["STRIPE_SECRET_KEY"] = "sk_test_two"
    assert gateway_for(app) is not first


def test_a_tenant_whose_customer_was_deleted_gets_a_new_one(sim: SimulatorProcess) -> None:
    gateway = StripeGateway(sim.api_key, sim.url)
    first = gateway.create_customer(8, "a@example.com", "A")
    assert gateway.create_customer(8, "a@example.com", "A").id == first.id  # a replay
    sim.client().v1.customers.delete(first.id)
    second = gateway.create_customer(8, "a@example.com", "A")
    assert second.id != first.id and not gateway.retrieve_customer(second.id).deleted
    assert gateway.create_customer(8, "a@example.com", "A").id == second.id


@pytest.mark.parametrize(
    ("error", "expected", "status", "words"),
    [
        (
            stripe.CardError("declined", None, "card_declined"),
            PaymentDeclined,
            402,
            "Try another card",
        ),
        (stripe.RateLimitError("slow down"), BillingUnavailable, 503, "busy"),
        (stripe.APIError("boom"), BillingUnavailable, 503, "had a problem"),
        (stripe.PermissionError("no"), BillingUnavailable, 503, "misconfigured"),
        (stripe.InvalidRequestError("bad", "price"), PortalError, 400, "refused to do it"),
    ],
)
def test_every_stripe_error_becomes_a_portal_error(
    error: Exception, expected: type[PortalError], status: int, words: str
) -> None:
    with pytest.raises(expected) as caught, _translated("do it"):
        raise error
    assert caught.value.status_code == status
    assert words in caught.value.message
