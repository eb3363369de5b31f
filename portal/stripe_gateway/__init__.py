"""The only place in the product that talks to Stripe (or the simulator standing in for it).

Everything else calls the gateway's thin, typed methods and gets plain dataclasses back, so no
other module imports ``stripe``. Every Stripe error leaves as a ``PortalError`` a person can act
on. ``types`` holds the dataclasses, ``errors`` the error translation, ``connection`` the SDK
client and idempotency keys, ``webhooks`` signature verification, ``client`` the gateway.
"""

from __future__ import annotations

from portal.stripe_gateway.client import StripeGateway, gateway_for, get_gateway
from portal.stripe_gateway.connection import PINNED_API_VERSION
from portal.stripe_gateway.errors import PaymentDeclined, StripeObjectMissing, WebhookRejected
from portal.stripe_gateway.metering import MeterEventResult
from portal.stripe_gateway.thin_events import MeterErrorReport, MeterErrorType, ThinEvent
from portal.stripe_gateway.types import (
    EventObject,
    StripeCheckoutSession,
    StripeCustomer,
    StripeInvoice,
    StripeInvoiceLine,
    StripeMeter,
    StripePaymentMethod,
    StripePrice,
    StripeSetupIntent,
    StripeSubscription,
    StripeTestClock,
    WebhookEvent,
)
from portal.stripe_gateway.webhooks import WEBHOOK_TOLERANCE_SECONDS

__all__ = [
    "PINNED_API_VERSION",
    "WEBHOOK_TOLERANCE_SECONDS",
    "EventObject",
    "MeterErrorReport",
    "MeterErrorType",
    "MeterEventResult",
    "PaymentDeclined",
    "StripeCheckoutSession",
    "StripeCustomer",
    "StripeGateway",
    "StripeInvoice",
    "StripeInvoiceLine",
    "StripeMeter",
    "StripeObjectMissing",
    "StripePaymentMethod",
    "StripePrice",
    "StripeSetupIntent",
    "StripeSubscription",
    "StripeTestClock",
    "ThinEvent",
    "WebhookEvent",
    "WebhookRejected",
    "gateway_for",
    "get_gateway",
]
