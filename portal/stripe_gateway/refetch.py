"""Re-fetching an event's object at the pinned API version.

An event rendered on another API version (an endpoint left on an old version, or an account
upgrade half done) does not parse into our types: an older invoice has no ``parent``, so it
would name no subscription and its handler would do nothing while answering 200. The webhook
route instead re-fetches the object by id; the SDK client always sends the pinned version.
"""

from __future__ import annotations

from collections.abc import Callable

from portal.stripe_gateway.connection import StripeConnection
from portal.stripe_gateway.types import (
    EventObject,
    StripeCheckoutSession,
    StripeCustomer,
    StripeInvoice,
    StripePaymentMethod,
    StripeSubscription,
)


class RefetchCalls(StripeConnection):
    """``retrieve_event_object``: one object by its ``object`` type and id."""

    def retrieve_event_object(self, object_type: str, object_id: str) -> EventObject:
        """The object as Stripe has it now, at the pinned version; None for a type the
        portal does not read."""
        fetchers: dict[str, Callable[[], EventObject]] = {
            "customer": lambda: StripeCustomer.of(self._v1.customers.retrieve(object_id)),
            "subscription": lambda: StripeSubscription.of(
                self._v1.subscriptions.retrieve(object_id)
            ),
            "invoice": lambda: StripeInvoice.of(self._v1.invoices.retrieve(object_id)),
            "checkout.session": lambda: StripeCheckoutSession.of(
                self._v1.checkout.sessions.retrieve(object_id)
            ),
            "payment_method": lambda: StripePaymentMethod.of(
                self._v1.payment_methods.retrieve(object_id)
            ),
        }
        fetch = fetchers.get(object_type)
        if fetch is None:
            return None
        return self._call(f"load the {object_type.replace('_', ' ')} an event is about", fetch)
