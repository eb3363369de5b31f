"""Webhook verification: a body becomes a ``WebhookEvent`` only with a valid, fresh signature.

Anything else (bad or stale signature, malformed JSON, a signed body that is not an event) is a
``WebhookRejected`` the route answers with a 400, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import stripe

from portal.errors import BillingUnavailable
from portal.stripe_gateway.errors import WebhookRejected
from portal.stripe_gateway.event_payload import event_of
from portal.stripe_gateway.types import WebhookEvent

#: Stripe's own default; events signed longer ago than this are refused.
WEBHOOK_TOLERANCE_SECONDS = 300


def verified_body(payload: bytes, signature: str | None, secret: str) -> Any:
    """``payload`` parsed (``json.loads``, once) if its signature is valid and fresh for
    ``secret``; else ``WebhookRejected`` (400), or ``BillingUnavailable`` with no secret.

    The signature is checked by the SDK's own verifier (``stripe.WebhookSignature``) on the raw
    bytes, exactly as ``stripe.Webhook.construct_event`` does, before anything is parsed.
    """
    if not secret:
        # An empty secret verifies against an empty key, which anyone can forge.
        raise BillingUnavailable("Webhooks are refused: STRIPE_WEBHOOK_SECRET is not set.")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(f"Invalid Stripe signature: {error.user_message}") from error
    except ValueError as error:  # not UTF-8: it cannot be the JSON Stripe signed
        raise WebhookRejected("The body is not a Stripe event (malformed JSON).") from error
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as error:
        raise WebhookRejected("The body is not a Stripe event (malformed JSON).") from error


def body_event_id(body: Any) -> str | None:
    """The id a verified body names, when the ledger could hold it (else None: the full
    parse refuses the body with its reason)."""
    event_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(event_id, str) or not event_id:
        return None
    return event_id if len(event_id) <= EVENT_ID_MAX_LENGTH and event_id.isprintable() else None


def event_from_body(body: Any) -> WebhookEvent:
    """The ``WebhookEvent`` of a verified body (``verified_body``); ``WebhookRejected`` when it
    is signed but is not an event the ledger can record."""
    try:
        parsed = event_of(body)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as error:
        raise WebhookRejected("The body is signed but is not a Stripe event.") from error
    check_event_identity(parsed.id, parsed.type)
    return parsed


def verified_event(payload: bytes, signature: str | None, secret: str) -> WebhookEvent:
    """Verify ``payload`` against ``secret`` and parse it; else ``WebhookRejected``."""
    return event_from_body(verified_body(payload, signature, secret))


#: What the event ledger (``stripe_event``) stores: Stripe's ids and types are far shorter.
EVENT_ID_MAX_LENGTH = 255
EVENT_TYPE_MAX_LENGTH = 100


def check_event_identity(event_id: str, event_type: str) -> None:
    """Refuse an event whose id or type the ledger cannot store (a signed body can still be
    hostile: the secret may have leaked, or a test sends it)."""
    for name, value, limit in (
        ("id", event_id, EVENT_ID_MAX_LENGTH),
        ("type", event_type, EVENT_TYPE_MAX_LENGTH),
    ):
        if not value or len(value) > limit or not value.isprintable():
            raise WebhookRejected(
                f"The event's {name} is not a Stripe event {name} (empty, over {limit} "
                "characters, or holding control characters)."
            )
