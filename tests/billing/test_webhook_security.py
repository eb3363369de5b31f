"""The webhook endpoint refuses what is not a fresh, signed Stripe event, and changes nothing."""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.factory import Factory, sign_in_client

from .conftest import Billing, event_json, sign


@pytest.fixture
def customer_event(billing: Billing, factory: Factory) -> bytes:
    tenant_id = factory.account().tenant_id
    sub_id = billing.subscribe(tenant_id)
    return json.dumps(
        event_json("customer.subscription.updated", billing.subscription_json(sub_id))
    ).encode()


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing"),
        ("t=1,v1=deadbeef", "garbage"),
        ("forged", "forged"),
        ("stale", "stale"),
    ],
)
def test_unverifiable_events_get_400_and_change_nothing(
    billing: Billing, customer_event: bytes, signature: str | None, reason: str
) -> None:
    if signature == "forged":
        signature = sign(customer_event, secret="whsec_someone_else")
    elif signature == "stale":
        signature = sign(customer_event, timestamp=int(time.time()) - 301)
    response = billing.post(customer_event, signature=signature)
    assert response.status_code == 400, reason
    assert "signature" in response.get_json()["error"].lower()
    assert billing.event_count() == 0
    assert billing.state(1) == ("free", [])


def test_a_signature_within_tolerance_is_accepted(billing: Billing, customer_event: bytes) -> None:
    response = billing.post(
        customer_event, signature=sign(customer_event, timestamp=int(time.time()) - 250)
    )
    assert response.status_code == 200
    assert billing.state(1)[0] == "pro"


def test_malformed_json_with_a_valid_signature_is_400(billing: Billing) -> None:
    response = billing.post(b'{"id": "evt_1", "type": ')
    assert response.status_code == 400
    assert "malformed" in response.get_json()["error"].lower()
    assert billing.event_count() == 0


def test_signed_json_that_is_not_an_event_is_400(billing: Billing) -> None:
    response = billing.post(b'["not", "an", "event"]')
    assert response.status_code == 400
    assert billing.event_count() == 0


def test_a_body_over_one_megabyte_is_413_before_parsing(billing: Billing) -> None:
    body = b'{"padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = billing.post(body)
    assert response.status_code == 413
    assert billing.event_count() == 0


def test_without_a_secret_everything_is_refused(
    billing: Billing, customer_event: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    billing.app.config["STRIPE_WEBHOOK_SECRET"] = ""
    with caplog.at_level(logging.ERROR, logger="continuum.billing"):
        response = billing.post(customer_event, signature=sign(customer_event, secret=""))
    assert response.status_code == 503
    assert "not configured" in response.get_json()["error"]
    assert "STRIPE_WEBHOOK_SECRET is not set" in caplog.text
    assert billing.event_count() == 0
    assert billing.state(1) == ("free", [])


def test_the_v1_alias_verifies_too(billing: Billing, customer_event: bytes) -> None:
    assert (
        billing.post(customer_event, signature=None, path="/v1/billing/webhook").status_code == 400
    )
    assert billing.post(customer_event, path="/v1/billing/webhook").status_code == 200
    assert billing.state(1)[0] == "pro"


def test_no_csrf_token_is_needed(billing: Billing, customer_event: bytes) -> None:
    # The app under test has CSRF protection on; a signed webhook still gets through.
    assert billing.app.config["WTF_CSRF_ENABLED"] is True
    assert billing.post(customer_event).status_code == 200


def test_rejections_are_logged_without_secrets(
    billing: Billing, customer_event: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="continuum.billing"):
        billing.post(customer_event, signature="t=1,v1=abc")
    assert "webhook rejected" in caplog.text
    assert "whsec_" not in caplog.text
    assert billing.sim.api_key not in caplog.text


def test_a_staff_session_cookie_does_not_divert_a_delivery(
    billing: Billing, factory: Factory, customer_event: bytes
) -> None:
    # The console's hook sends staff without a team to the console; a webhook is no page, so a
    # delivery carrying a staff member's session (a proxy, a test tool) is still handled.
    sign_in_client(billing.client, factory.staff())
    response = billing.client.post(
        "/billing/webhook",
        data=customer_event,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(customer_event)},
    )
    assert response.status_code == 200, response.headers.get("Location")
    assert billing.state(1)[0] == "pro"
