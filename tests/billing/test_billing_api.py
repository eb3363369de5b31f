"""The billing JSON routes, by API key or by session (with its CSRF token)."""

from __future__ import annotations

from typing import Any

import pytest

from portal.extensions import db
from portal.models import ApiKey, utcnow
from stripe_sim.testing import SimulatorProcess
from tests.factory import Factory

from .conftest import CARD_OK, Billing


@pytest.fixture
def api_key(billing: Billing, factory: Factory) -> str:
    return factory.account(key=True).key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_anonymous_requests_get_401(billing: Billing) -> None:
    for method, path in [
        ("get", "/v1/billing/subscription"),
        ("post", "/v1/billing/create-checkout-session"),
        ("post", "/v1/billing/cancel-subscription"),
    ]:
        response = getattr(billing.client, method)(path)
        assert response.status_code == 401
        assert "Bearer ck_" in response.get_json()["error"]


@pytest.mark.parametrize("header", ["Bearer ck_test_wrong", "Basic abc", "Bearer "])
def test_bad_keys_get_401(billing: Billing, api_key: str, header: str) -> None:
    response = billing.client.get("/v1/billing/subscription", headers={"Authorization": header})
    assert response.status_code == 401


def test_a_revoked_key_gets_401(billing: Billing, api_key: str) -> None:
    with billing.app.app_context():
        for key in db.session.query(ApiKey):
            key.revoked_at = utcnow()
        db.session.commit()
    assert (
        billing.client.get("/v1/billing/subscription", headers=_bearer(api_key)).status_code == 401
    )


def test_a_free_tenant_has_no_subscription(billing: Billing, api_key: str) -> None:
    response = billing.client.get("/v1/billing/subscription", headers=_bearer(api_key))
    assert response.get_json() == {"tier": "free", "subscription": None}


def test_create_checkout_session_then_pay_then_read_and_cancel(
    billing: Billing, api_key: str, sim: SimulatorProcess
) -> None:
    created = billing.client.post(
        "/v1/billing/create-checkout-session", json={"interval": "year"}, headers=_bearer(api_key)
    )
    assert created.status_code == 200
    body: dict[str, Any] = created.get_json()
    assert body["session_id"].startswith("cs_") and body["url"].startswith(sim.url)
    session = billing.stripe.v1.checkout.sessions.retrieve(body["session_id"])
    assert session.mode == "subscription" and session.client_reference_id == "1"
    assert (
        session.success_url == "http://portal.test/billing/success?session_id={CHECKOUT_SESSION_ID}"
    )
    sim.pay_checkout(body["url"], CARD_OK)
    sub_id = str(billing.stripe.v1.checkout.sessions.retrieve(body["session_id"]).subscription)
    assert billing.stripe.v1.subscriptions.retrieve(sub_id).metadata["tenant_id"] == "1"
    customer = billing.stripe.v1.customers.retrieve(str(session.customer))
    assert customer.metadata["tenant_id"] == "1" and customer.email == "owner@example.com"
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))

    state = billing.client.get("/v1/billing/subscription", headers=_bearer(api_key)).get_json()
    assert state["tier"] == "pro"
    assert state["subscription"]["interval"] == "year"
    assert state["subscription"]["status"] == "active" and state["subscription"]["valid"]

    canceled = billing.client.post(
        "/v1/billing/cancel-subscription", json={}, headers=_bearer(api_key)
    ).get_json()
    assert canceled["tier"] == "pro"
    assert canceled["subscription"]["cancel_at_period_end"] is True
    assert canceled["subscription"]["on_grace_period"] is True

    ended = billing.client.post(
        "/v1/billing/cancel-subscription", json={"at_period_end": False}, headers=_bearer(api_key)
    ).get_json()
    assert ended["tier"] == "free" and ended["subscription"]["status"] == "canceled"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"interval": "fortnight"}, "Choose monthly or yearly"),
        ({"tier": "enterprise"}, "Enterprise is arranged"),
    ],
)
def test_bad_checkout_requests_are_400(
    billing: Billing, api_key: str, payload: dict[str, str], message: str
) -> None:
    response = billing.client.post(
        "/v1/billing/create-checkout-session", json=payload, headers=_bearer(api_key)
    )
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_a_json_body_must_be_an_object(billing: Billing, api_key: str) -> None:
    response = billing.client.post(
        "/v1/billing/create-checkout-session", json=["year"], headers=_bearer(api_key)
    )
    assert response.status_code == 400


def test_cancel_without_a_subscription_is_404(billing: Billing, api_key: str) -> None:
    response = billing.client.post("/v1/billing/cancel-subscription", headers=_bearer(api_key))
    assert response.status_code == 404
    assert "no active subscription" in response.get_json()["error"]


def test_session_auth_needs_the_csrf_token_on_posts(billing: Billing, factory: Factory) -> None:
    factory.account().sign_in(billing.client)
    assert billing.client.get("/v1/billing/subscription").get_json()["tier"] == "free"
    refused = billing.client.post("/v1/billing/create-checkout-session", json={})
    assert refused.status_code == 400
    token = billing.client.csrf_token("/keys")
    accepted = billing.client.post(
        "/v1/billing/create-checkout-session", json={}, headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 200
