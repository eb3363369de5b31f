"""The outside audit's seven causes of a 500 on hostile input: each is now a 4xx with a message
and writes nothing (issue 12, item 1). The route-walking fuzz test is tests/test_fuzz_routes.py;
the example API's cases are in tests/enforcement/test_example_api_hostile.py."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import ApiKey, StripeEvent
from tests.billing.conftest import sign
from tests.factory import SIGNED_IN_PAGE

DEEP = "[" * 100_000 + "]" * 100_000
WEBHOOK_SECRET = "whsec_hostile_input_tests"


def _bearer(account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.key}"}


@pytest.mark.both_dbs
@pytest.mark.parametrize("interval", [5, ["month"], {"a": 1}, True, 1.5])
def test_wrong_json_types_to_checkout_are_a_400(client, factory, interval):
    account = factory.account(key=True)
    response = client.post(
        "/v1/billing/create-checkout-session", json={"interval": interval}, headers=_bearer(account)
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "'interval' must be a string, e.g. \"month\"."}


@pytest.mark.parametrize("body", [{"tier": 7}, {"plan": ["pro"]}])
def test_wrong_json_types_for_the_tier_are_a_400(client, factory, body):
    account = factory.account(key=True)
    response = client.post(
        "/v1/billing/create-checkout-session", json=body, headers=_bearer(account)
    )
    assert response.status_code == 400
    assert "must be a string" in response.get_json()["error"]


def test_cancel_wants_a_boolean(client, factory):
    account = factory.account(key=True)
    response = client.post(
        "/v1/billing/cancel-subscription", json={"at_period_end": {}}, headers=_bearer(account)
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "'at_period_end' must be true or false."}


@pytest.mark.parametrize(
    "path", ["/v1/billing/create-checkout-session", "/v1/billing/cancel-subscription"]
)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (DEEP, "nested at most 32 levels"),
        ('{"interval": "month\\u0000"}', "NUL"),
        ('{"interval": "\\ud800"}', "unpaired surrogate"),
    ],
)
def test_hostile_json_bodies_are_a_400_with_a_message(client, factory, path, body, message):
    account = factory.account(key=True)
    response = client.post(
        path, data=body, content_type="application/json", headers=_bearer(account)
    )
    assert response.status_code == 400
    assert message in response.get_json()["error"]


@pytest.mark.both_dbs
@pytest.mark.parametrize("key_id", ["2147483648", "9223372036854775808", "1" + "0" * 30])
def test_path_ids_past_the_database_range_are_a_404(factory, key_id):
    account = factory.account(key=True)
    response = account.post(f"/keys/{key_id}/revoke")
    assert response.status_code == 404
    assert "There is nothing at this address" in response.get_data(as_text=True)


@pytest.mark.parametrize("next_url", ["/keys\r\nSet-Cookie: x=1", "/keys\n", "/\x00", "/a\tb"])
def test_control_characters_in_next_are_never_followed_on_get(factory, next_url):
    account = factory.account()
    response = account.client.get("/login", query_string={"next": next_url})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert not any("x=1" in cookie for cookie in response.headers.getlist("Set-Cookie"))


@pytest.mark.both_dbs
def test_control_characters_in_next_on_a_successful_sign_in(auth, factory):
    factory.account(email=auth.email)
    token = auth.csrf_token("/login")
    response = auth.client.post(
        "/login",
        query_string={"next": "/keys\r\nLocation: https://evil.example"},
        data={"email": auth.email, "password": auth.password, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"  # signed in, and sent home instead
    assert auth.client.get(SIGNED_IN_PAGE).status_code == 200


def test_control_characters_in_the_consoles_next_are_never_followed(app, factory):
    from tests.factory import sign_in

    staff = sign_in(app, factory.staff())
    response = staff.get("/admin/second-factor", query_string={"next": "/admin\r\nX: y"})
    assert response.status_code in (200, 302)
    assert "\r" not in response.headers.get("Location", "")


@pytest.mark.both_dbs
@pytest.mark.parametrize("name", ["nul\x00name", "\x00"])
def test_nul_in_a_key_name_is_a_400_and_no_key(app, factory, name):
    account = factory.account()
    response = account.post("/keys", {"name": name})
    assert response.status_code == 400
    assert "control characters such as NUL" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config.update(STRIPE_SECRET_KEY="sk_test_hostile", STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return app_config


@pytest.mark.both_dbs
@pytest.mark.parametrize("event_id", ["evt_" + "x" * 300, "evt_\x00nul", "", "evt_line\nbreak"])
def test_a_signed_event_the_ledger_cannot_store_is_a_400(app, client, event_id):
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "data": {"object": {"id": "cus_x", "object": "customer"}},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": "customer.updated",
        }
    ).encode()
    response = client.post(
        "/billing/webhook",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET)},
    )
    assert response.status_code == 400
    assert "not a Stripe event id" in response.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) == 0


def test_a_signed_event_nested_too_deep_is_a_400(client):
    payload = ('{"id": "evt_1", "data": ' + DEEP + "}").encode()
    response = client.post(
        "/billing/webhook",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET)},
    )
    assert response.status_code == 400
