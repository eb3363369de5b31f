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
    except (ValueError, RecursionError) as error:
        raise WebhookRejected("The body is not a Stripe event (malformed JSON).") from error
    except (AttributeError, KeyError, TypeError) as error:
        raise WebhookRejected("The body is signed but is not a Stripe event.") from error
    try:
        parsed = WebhookEvent.of(event)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise WebhookRejected("The body is signed but is not a Stripe event.") from error
    check_event_identity(parsed.id, parsed.type)
    return parsed


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
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    event_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(event_id, str) or not event_id:
        return None
    return event_id if len(event_id) <= EVENT_ID_MAX_LENGTH and event_id.isprintable() else None
