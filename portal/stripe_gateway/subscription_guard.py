"""Gateway calls that keep a tenant to one paid subscription: the customer's Checkout Sessions
by status, and cancelling a duplicate with a prorated credit."""

from __future__ import annotations

from typing import Literal

from stripe.params import SubscriptionCancelParams
from stripe.params.checkout import SessionListParams as CheckoutSessionListParams

from portal.stripe_gateway.connection import StripeConnection
from portal.stripe_gateway.types import StripeCheckoutSession, StripeSubscription


class SubscriptionGuardCalls(StripeConnection):
    """``list_checkout_sessions`` and ``cancel_with_credit``."""

    def list_checkout_sessions(
        self, customer_id: str, status: Literal["open", "complete", "expired"]
    ) -> list[StripeCheckoutSession]:
        """The customer's Checkout Sessions in ``status``, newest first (up to 100)."""
        params: CheckoutSessionListParams = {
            "customer": customer_id,
            "status": status,
            "limit": 100,
        }
        listed = self._call(
            "look up your checkouts", lambda: self._v1.checkout.sessions.list(params)
        )
        return [StripeCheckoutSession.of(session) for session in listed.data]

    def cancel_with_credit(self, subscription_id: str) -> StripeSubscription:
        """Cancel now; the unused time is credited on a final invoice (to the customer's
        balance, which the next invoice draws on)."""
        params: SubscriptionCancelParams = {"prorate": True, "invoice_now": True}
        return StripeSubscription.of(
            self._call(
                "cancel the duplicate subscription",
                lambda: self._v1.subscriptions.cancel(subscription_id, params),
            )
        )
