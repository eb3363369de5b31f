"""The webhook intake's fast path reads events exactly as the SDK's objects would, and keeps
Flask's cookie session off the webhook paths only."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import stripe
from flask import Flask, request

from portal.stripe_gateway import WebhookRejected
from portal.stripe_gateway.event_payload import body_customer_id, event_of
from portal.stripe_gateway.types import (
    StripeCheckoutSession,
    StripeCustomer,
    StripeInvoice,
    StripePaymentMethod,
    StripeSubscription,
)
from portal.stripe_gateway.webhooks import event_from_body, verified_body
from portal.webhooks.sessionless import SessionlessPaths

NOW = 1_790_000_000
PRICE = {
    "id": "price_pro",
    "object": "price",
    "lookup_key": "pro_monthly",
    "recurring": {"interval": "month", "usage_type": "licensed", "meter": None},
}
METERED = {
    "id": "price_overage",
    "object": "price",
    "lookup_key": "overage",
    "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_1"},
}
OBJECTS: dict[str, tuple[dict[str, Any], Any]] = {
    "customer": (
        {
            "id": "cus_1",
            "object": "customer",
            "email": "a@example.com",
            "metadata": {"tenant_id": "7"},
            "invoice_settings": {"default_payment_method": "pm_1"},
            "balance": -300,
        },
        StripeCustomer.of,
    ),
    "subscription": (
        {
            "id": "sub_1",
            "object": "subscription",
            "customer": "cus_1",
            "status": "active",
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": "si_1",
                        "object": "subscription_item",
                        "price": PRICE,
                        "current_period_start": NOW,
                        "current_period_end": NOW + 86400,
                    },
                    {
                        "id": "si_2",
                        "object": "subscription_item",
                        "price": METERED,
                        "current_period_start": NOW,
                        "current_period_end": NOW + 86400,
                    },
                ],
            },
            "cancel_at_period_end": False,
            "cancel_at": None,
            "trial_end": None,
            "canceled_at": None,
            "ended_at": None,
            "created": NOW,
            "metadata": {},
            "latest_invoice": {"id": "in_1", "object": "invoice"},
            "default_payment_method": None,
            "pause_collection": {"behavior": "void"},
        },
        StripeSubscription.of,
    ),
    "invoice": (
        {
            "id": "in_1",
            "object": "invoice",
            "customer": {"id": "cus_1", "object": "customer"},
            "number": "N-1",
            "status": "paid",
            "currency": "usd",
            "amount_due": 2900,
            "amount_paid": 2900,
            "total": 2900,
            "created": NOW,
            "period_start": NOW,
            "period_end": NOW + 86400,
            "attempt_count": 1,
            "next_payment_attempt": None,
            "hosted_invoice_url": "https://example.com/i",
            "invoice_pdf": None,
            "status_transitions": {"paid_at": NOW + 5},
            "parent": {"subscription_details": {"subscription": "sub_1"}},
            "lines": {
                "object": "list",
                "data": [
                    {
                        "description": "Pro",
                        "amount": 2900,
                        "parent": {
                            "subscription_item_details": {"proration": True},
                            "invoice_item_details": None,
                        },
                    }
                ],
            },
        },
        StripeInvoice.of,
    ),
    "checkout.session": (
        {
            "id": "cs_1",
            "object": "checkout.session",
            "url": None,
            "mode": "subscription",
            "status": "complete",
            "customer": "cus_1",
            "client_reference_id": "7",
            "subscription": "sub_1",
            "setup_intent": None,
            "metadata": {"price_id": "price_pro"},
        },
        StripeCheckoutSession.of,
    ),
    "payment_method": (
        {
            "id": "pm_1",
            "object": "payment_method",
            "customer": "cus_1",
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        },
        StripePaymentMethod.of,
    ),
}


def _body(data_object: dict[str, Any], api_version: str | None = "2026-10-28.endive") -> Any:
    return {
        "id": "evt_1",
        "object": "event",
        "type": "some.event",
        "created": NOW,
        "livemode": False,
        "api_version": api_version,
        "data": {"object": copy.deepcopy(data_object)},
    }


EMPTIED: dict[str, dict[str, Any]] = {
    "customer": {"invoice_settings": {}},
    "subscription": {"pause_collection": {}},
    "invoice": {"parent": {}, "status_transitions": {}},
}


def _emptied(kind: str, data_object: dict[str, Any]) -> dict[str, Any]:
    """The same object with nested objects present but empty: the SDK's objects are truthy even
    empty, so its readers fail on them (and the event carries no object); the views must too."""
    return {**data_object, **EMPTIED.get(kind, {})}


@pytest.mark.parametrize("emptied", [False, True])
@pytest.mark.parametrize("kind", sorted(OBJECTS))
def test_the_dict_reading_matches_the_sdk_objects(kind: str, emptied: bool) -> None:
    data_object, read = OBJECTS[kind]
    if emptied:
        data_object = _emptied(kind, data_object)
    body = _body(data_object)
    sdk = stripe.Event.construct_from(json.loads(json.dumps(body)), "sk_test_x").data.object
    parsed = event_of(body)
    try:
        expected = read(sdk)
    except (AttributeError, IndexError, KeyError, TypeError):  # what the SDK path logged
        expected = None
    assert parsed.object == expected
    assert (expected is None) == (emptied and kind in EMPTIED)
    assert (parsed.id, parsed.type, parsed.created, parsed.livemode) == (
        "evt_1",
        "some.event",
        NOW,
        False,
    )
    assert parsed.object_id == data_object["id"]
    assert parsed.object_type == kind
    assert parsed.customer_id == "cus_1"
    assert body_customer_id(body) == "cus_1"


def test_unknown_objects_and_odd_shapes_arrive_as_none() -> None:
    parsed = event_of(_body({"id": "prod_1", "object": "product"}, api_version=None))
    assert parsed.object is None and parsed.customer_id is None and parsed.api_version is None
    # A known type with a shape the reader cannot follow: logged, None, not a failure.
    assert event_of(_body({"id": "sub_9", "object": "subscription"})).object is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"id": "evt_1", "type": "x", "created": NOW, "livemode": False},  # no data
        {"id": "evt_1", "object": "v2.core.event", "type": "x"},  # a thin event
        {**_body({"id": "in_1"}), "created": "soon"},
        {**_body({"id": "in_1"}), "id": ""},
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(body: Any) -> None:
    with pytest.raises(WebhookRejected):
        event_from_body(body)


def test_the_signature_is_checked_before_anything_is_parsed() -> None:
    payload = b'{"id": "evt_1"'  # not even JSON
    with pytest.raises(WebhookRejected, match="signature"):
        verified_body(payload, "t=1,v1=00", "whsec_x")
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), "whsec_x")
    with pytest.raises(WebhookRejected, match="malformed"):
        verified_body(payload, header, "whsec_x")


def test_webhook_paths_skip_the_cookie_session_and_pages_keep_it(app: Flask) -> None:
    interface = app.session_interface
    assert isinstance(interface, SessionlessPaths)
    assert "/billing/webhook" in interface.paths and "/v1/billing/webhook" in interface.paths
    signed = interface.get_signing_serializer(app)
    assert signed is not None
    cookie = f"{app.config['SESSION_COOKIE_NAME']}={signed.dumps({'_user_id': '1'})}"
    for path, loaded in (("/billing/webhook", False), ("/login", True)):
        with app.test_request_context(path, method="POST", headers={"Cookie": cookie}):
            session = interface.open_session(app, request)
            assert session is not None
            assert ("_user_id" in session) is loaded, path
