"""Webhook verification: a body becomes a ``WebhookEvent`` only with a valid, fresh signature.

Anything else (bad or stale signature, malformed JSON, a signed body that is not an event) is a
``WebhookRejected`` the route answers with a 400, never a 500.
"""

from __future__ import annotations

import json

import stripe

from portal.errors import BillingUnavailable
from portal.stripe_gateway.errors import WebhookRejected
from portal.stripe_gateway.types import WebhookEvent

#: Stripe's own default; events signed longer ago than this are refused.
WEBHOOK_TOLERANCE_SECONDS = 300


def verified_event(
    client: stripe.StripeClient, payload: bytes, signature: str | None, secret: str
) -> WebhookEvent:
    """Verify ``payload`` against ``secret`` and parse it; else ``WebhookRejected``."""
    if not secret:
        # An empty secret verifies against an empty key, which anyone can forge.
        raise BillingUnavailable("Webhooks are refused: STRIPE_WEBHOOK_SECRET is not set.")
    try:
        event = client.construct_event(payload, signature, secret, WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(f"Invalid Stripe signature: {error.user_message}") from error
    except ValueError as error:
        raise WebhookRejected("The body is not a Stripe event (malformed JSON).") from error
    except (AttributeError, KeyError, TypeError) as error:
        raise WebhookRejected("The body is signed but is not a Stripe event.") from error
    try:
        return WebhookEvent.of(event)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise WebhookRejected("The body is signed but is not a Stripe event.") from error


def verified_event_id(payload: bytes, signature: str | None, secret: str) -> str | None:
    """The id of the event in ``payload`` if its signature is valid and fresh, without building
    the event: the webhook route's cheap look for a duplicate. None when anything is off (the
    full ``verified_event`` then answers with the reason)."""
    if not secret:
        return None
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, WEBHOOK_TOLERANCE_SECONDS
        )
        body = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        return None
    event_id = body.get("id") if isinstance(body, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None
