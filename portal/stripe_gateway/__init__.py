"""The only place in the product that talks to Stripe (or the simulator standing in for it).

Everything else calls the gateway's thin, typed methods and gets plain dataclasses back, so no
other module imports ``stripe``. Every Stripe error leaves as a ``PortalError`` a person can act
on. ``types`` holds the dataclasses, ``errors`` the error translation, ``client`` the gateway.
"""

from portal.stripe_gateway.client import (
    WEBHOOK_TOLERANCE_SECONDS,
    EventObject,
    PaymentDeclined,
    StripeCheckoutSession,
    StripeCustomer,
    StripeGateway,
    StripeInvoice,
    StripeInvoiceLine,
    StripeObjectMissing,
    StripePaymentMethod,
    StripePrice,
    StripeSetupIntent,
    StripeSubscription,
    StripeTestClock,
    WebhookEvent,
    WebhookRejected,
    gateway_for,
    get_gateway,
)

__all__ = [
    "WEBHOOK_TOLERANCE_SECONDS",
    "EventObject",
    "PaymentDeclined",
    "StripeCheckoutSession",
    "StripeCustomer",
    "StripeGateway",
    "StripeInvoice",
    "StripeInvoiceLine",
    "StripeObjectMissing",
    "StripePaymentMethod",
    "StripePrice",
    "StripeSetupIntent",
    "StripeSubscription",
    "StripeTestClock",
    "WebhookEvent",
    "WebhookRejected",
    "gateway_for",
    "get_gateway",
]
