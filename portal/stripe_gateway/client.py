"""The gateway itself: typed calls to Stripe (or the simulator standing in for it).

Each method sends one request over the ``connection`` (under its error translation) and returns
a dataclass from ``types``. Creates carry idempotency keys, so a double click, a second tab or a
network retry never makes a second object.
"""

from __future__ import annotations

import time

import stripe
from flask import Flask, current_app
from stripe.params import (
    CustomerCreateParams,
    CustomerUpdateParams,
    InvoiceCreatePreviewParams,
    InvoiceListParams,
    PaymentMethodListParams,
    PriceCreateParams,
    PriceListParams,
    ProductCreateParams,
    SubscriptionCancelParams,
    SubscriptionListParams,
    SubscriptionUpdateParams,
)
from stripe.params.checkout import SessionCreateParams as CheckoutSessionCreateParams
from stripe.params.checkout import SessionCreateParamsLineItem as CheckoutLineItem
from stripe.params.checkout import (
    SessionCreateParamsSubscriptionData as CheckoutSubscriptionData,
)
from stripe.params.test_helpers import TestClockAdvanceParams, TestClockCreateParams

from portal.errors import BillingUnavailable, PortalError
from portal.stripe_gateway.account_setup import AccountSetupCalls
from portal.stripe_gateway.connection import _fresh_key, _key, _replayed
from portal.stripe_gateway.invoice_payments import InvoicePayments
from portal.stripe_gateway.metering import MeteringCalls
from portal.stripe_gateway.refetch import RefetchCalls
from portal.stripe_gateway.subscription_guard import SubscriptionGuardCalls
from portal.stripe_gateway.types import (
    StripeCheckoutSession,
    StripeCustomer,
    StripeInvoice,
    StripePaymentMethod,
    StripePrice,
    StripeSetupIntent,
    StripeSubscription,
    StripeTestClock,
)
from portal.stripe_gateway.webhooks import verified_body


class StripeGateway(
    MeteringCalls, AccountSetupCalls, RefetchCalls, SubscriptionGuardCalls, InvoicePayments
):
    """Typed calls to Stripe (usage-based billing's in ``MeteringCalls``, account setup in
    ``AccountSetupCalls``, paying an open invoice in ``InvoicePayments``). Build one with
    :func:`get_gateway`."""

    # customers

    def create_customer(
        self, tenant_id: int, email: str | None, name: str, namespace: str = ""
    ) -> StripeCustomer:
        """Create the tenant's customer; the key is the tenant, so repeats return the same one.

        A replayed answer naming a customer deleted since then means the tenant needs a new
        one, under a key of its own (derived from the deleted customer, so still repeatable).
        """
        params: CustomerCreateParams = {"name": name, "metadata": {"tenant_id": str(tenant_id)}}
        if email:
            params["email"] = email
        if self.test_clock:
            params["test_clock"] = self.test_clock
        # ``namespace``: the installation's (portal.installation), so two databases sharing
        # one Stripe account never send one key for two different customers.
        key = _key("customer", namespace, "tenant", tenant_id)
        for _ in range(5):
            customer = self._create_customer(params, key)
            if not _replayed(customer) or not self.retrieve_customer(customer.id).deleted:
                return StripeCustomer.of(customer)
            key = _key("customer", namespace, "tenant", tenant_id, "after", customer.id)
        raise BillingUnavailable(
            "We could not set up your billing account: too many earlier accounts were deleted. "
            "Please contact support."
        )

    def _create_customer(self, params: CustomerCreateParams, key: str) -> stripe.Customer:
        return self._call(
            "set up your billing account",
            lambda: self._v1.customers.create(params, {"idempotency_key": key}),
        )

    def retrieve_customer(self, customer_id: str) -> StripeCustomer:
        customer = self._call(
            "load your billing account", lambda: self._v1.customers.retrieve(customer_id)
        )
        return StripeCustomer.of(customer)

    def set_default_payment_method(self, customer_id: str, payment_method_id: str) -> None:
        params: CustomerUpdateParams = {
            "invoice_settings": {"default_payment_method": payment_method_id}
        }
        self._call("set your default card", lambda: self._v1.customers.update(customer_id, params))

    # products and prices

    def prices_by_lookup_key(self, lookup_keys: list[str]) -> dict[str, StripePrice]:
        params: PriceListParams = {"lookup_keys": lookup_keys, "active": True, "limit": 100}
        listed = self._call("load our prices", lambda: self._v1.prices.list(params))
        prices = (StripePrice.of(price) for price in listed.data)
        return {price.lookup_key: price for price in prices if price.lookup_key}

    def price_by_lookup_key(self, lookup_key: str) -> StripePrice:
        price = self.prices_by_lookup_key([lookup_key]).get(lookup_key)
        if price is None:
            raise BillingUnavailable(
                f"The price {lookup_key!r} is not set up yet. Run `flask stripe bootstrap`."
            )
        return price

    def create_product(self, name: str, key: str) -> str:
        params: ProductCreateParams = {"name": name, "metadata": {"continuum_product": key}}
        product = self._call(
            "create the product",
            lambda: self._v1.products.create(params, {"idempotency_key": _key("product", key)}),
        )
        return product.id

    def create_price(
        self, product_id: str, lookup_key: str, unit_amount: int, interval: str
    ) -> StripePrice:
        if interval not in ("month", "year"):
            raise PortalError(f"A price is billed per month or per year, not per {interval!r}.")
        params: PriceCreateParams = {
            "product": product_id,
            "currency": "usd",
            "unit_amount": unit_amount,
            "lookup_key": lookup_key,
            "recurring": {"interval": "month" if interval == "month" else "year"},
        }
        price = self._call(
            "create the price",
            lambda: self._v1.prices.create(
                params, {"idempotency_key": _key("price", lookup_key, unit_amount)}
            ),
        )
        return StripePrice.of(price)

    # checkout and the hosted billing portal

    def create_subscription_checkout(
        self,
        *,
        customer_id: str,
        tenant_id: int,
        price_id: str,
        success_url: str,
        cancel_url: str,
        trial_days: int = 0,
        metered_price_id: str | None = None,
        flexible_billing: bool = False,
    ) -> StripeCheckoutSession:
        """A Checkout Session that starts a subscription to ``price_id`` for the customer, with
        ``metered_price_id`` as a second item (usage-billed, so no quantity).

        ``flexible_billing`` asks for flexible billing mode, which a subscription mixing a
        yearly plan with a monthly metered price needs (Stripe's default at our API version,
        but said out loud so an account-level default cannot turn it into an error).
        """
        subscription_data: CheckoutSubscriptionData = {"metadata": {"tenant_id": str(tenant_id)}}
        if trial_days > 0:
            subscription_data["trial_period_days"] = trial_days
        if flexible_billing:
            subscription_data["billing_mode"] = {"type": "flexible"}
        line_items: list[CheckoutLineItem] = [{"price": price_id, "quantity": 1}]
        if metered_price_id:
            line_items.append({"price": metered_price_id})
        params: CheckoutSessionCreateParams = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(tenant_id),
            "line_items": line_items,
            "subscription_data": subscription_data,
            # price_id: an open session for the same price is reused rather than doubled.
            "metadata": {"tenant_id": str(tenant_id), "price_id": price_id},
            "allow_promotion_codes": True,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        return self._create_checkout(params)

    def create_setup_checkout(
        self, *, customer_id: str, tenant_id: int, success_url: str, cancel_url: str
    ) -> StripeCheckoutSession:
        """A Checkout Session in setup mode: the customer saves a new card."""
        params: CheckoutSessionCreateParams = {
            "mode": "setup",
            # Stripe needs it in setup mode to choose the payment methods to offer.
            "currency": "usd",
            "customer": customer_id,
            "client_reference_id": str(tenant_id),
            "metadata": {"tenant_id": str(tenant_id)},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        return self._create_checkout(params)

    def _create_checkout(self, params: CheckoutSessionCreateParams) -> StripeCheckoutSession:
        session = self._call(
            "start checkout",
            lambda: self._v1.checkout.sessions.create(
                params, {"idempotency_key": _fresh_key("checkout")}
            ),
        )
        return StripeCheckoutSession.of(session)

    def retrieve_checkout_session(self, session_id: str) -> StripeCheckoutSession:
        return StripeCheckoutSession.of(
            self._call(
                "confirm your checkout", lambda: self._v1.checkout.sessions.retrieve(session_id)
            )
        )

    def expire_checkout_session(self, session_id: str) -> StripeCheckoutSession:
        return StripeCheckoutSession.of(
            self._call("close the checkout", lambda: self._v1.checkout.sessions.expire(session_id))
        )

    # subscriptions

    def retrieve_subscription(self, subscription_id: str) -> StripeSubscription:
        return StripeSubscription.of(
            self._call(
                "load your subscription",
                lambda: self._v1.subscriptions.retrieve(subscription_id),
            )
        )

    def list_subscriptions(self, customer_id: str) -> list[StripeSubscription]:
        params: SubscriptionListParams = {"customer": customer_id, "status": "all", "limit": 100}
        listed = self._call("load your subscriptions", lambda: self._v1.subscriptions.list(params))
        return [StripeSubscription.of(sub) for sub in listed.data]

    def swap_price(
        self, subscription: StripeSubscription, price_id: str, proration_date: int
    ) -> StripeSubscription:
        """Move the subscription to ``price_id``, prorated as of ``proration_date``."""
        params: SubscriptionUpdateParams = {
            "items": [{"id": subscription.item_id, "price": price_id}],
            "proration_behavior": "create_prorations",
            "proration_date": proration_date,
        }
        return self._update_subscription("change your plan", subscription.id, params)

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel_at_period_end: bool
    ) -> StripeSubscription:
        params: SubscriptionUpdateParams = {"cancel_at_period_end": cancel_at_period_end}
        action = "schedule the cancellation" if cancel_at_period_end else "resume your plan"
        return self._update_subscription(action, subscription_id, params)

    def _update_subscription(
        self, action: str, subscription_id: str, params: SubscriptionUpdateParams
    ) -> StripeSubscription:
        return StripeSubscription.of(
            self._call(action, lambda: self._v1.subscriptions.update(subscription_id, params))
        )

    def set_subscription_payment_method(
        self, subscription_id: str, payment_method_id: str
    ) -> StripeSubscription:
        params: SubscriptionUpdateParams = {"default_payment_method": payment_method_id}
        return self._update_subscription("use the card for your plan", subscription_id, params)

    def cancel_subscription(self, subscription_id: str) -> StripeSubscription:
        params: SubscriptionCancelParams = {"prorate": False}
        return StripeSubscription.of(
            self._call(
                "cancel your subscription",
                lambda: self._v1.subscriptions.cancel(subscription_id, params),
            )
        )

    # invoices

    def list_invoices(self, customer_id: str, limit: int = 24) -> list[StripeInvoice]:
        params: InvoiceListParams = {"customer": customer_id, "limit": limit}
        listed = self._call("load your invoices", lambda: self._v1.invoices.list(params))
        return [StripeInvoice.of(invoice) for invoice in listed.data]

    def preview_price_swap(
        self, subscription: StripeSubscription, price_id: str, proration_date: int
    ) -> StripeInvoice:
        """The invoice Stripe would issue for :meth:`swap_price` with the same arguments."""
        params: InvoiceCreatePreviewParams = {
            "customer": subscription.customer_id,
            "subscription": subscription.id,
            "subscription_details": {
                "items": [{"id": subscription.item_id, "price": price_id}],
                "proration_behavior": "create_prorations",
                "proration_date": proration_date,
            },
        }
        return StripeInvoice.of(
            self._call("preview the change", lambda: self._v1.invoices.create_preview(params))
        )

    # payment methods and setup intents

    def list_payment_methods(self, customer_id: str) -> list[StripePaymentMethod]:
        params: PaymentMethodListParams = {"customer": customer_id, "type": "card", "limit": 100}
        listed = self._call("load your cards", lambda: self._v1.payment_methods.list(params))
        return [StripePaymentMethod.of(method) for method in listed.data]

    def retrieve_payment_method(self, payment_method_id: str) -> StripePaymentMethod:
        return StripePaymentMethod.of(
            self._call(
                "load the card", lambda: self._v1.payment_methods.retrieve(payment_method_id)
            )
        )

    def detach_payment_method(self, payment_method_id: str) -> None:
        self._call("remove the card", lambda: self._v1.payment_methods.detach(payment_method_id))

    def retrieve_setup_intent(self, setup_intent_id: str) -> StripeSetupIntent:
        intent = self._call(
            "confirm the new card", lambda: self._v1.setup_intents.retrieve(setup_intent_id)
        )
        return StripeSetupIntent.of(intent)

    # test clocks (test mode only: the constructor refuses them with a live key)

    def create_test_clock(self, frozen_time: int, name: str) -> StripeTestClock:
        params: TestClockCreateParams = {"frozen_time": frozen_time, "name": name}
        clock = self._call(
            "create a test clock",
            lambda: self._v1.test_helpers.test_clocks.create(
                params, {"idempotency_key": _fresh_key("clock")}
            ),
        )
        return StripeTestClock.of(clock)

    def advance_test_clock(
        self, clock_id: str, frozen_time: int, timeout: float = 120.0
    ) -> StripeTestClock:
        """Advance the clock and wait until Stripe has finished (advancing is asynchronous:
        ``advancing``, then ``ready``); a clock still advancing at ``timeout`` is returned."""
        params: TestClockAdvanceParams = {"frozen_time": frozen_time}
        clock = StripeTestClock.of(
            self._call(
                "advance the test clock",
                lambda: self._v1.test_helpers.test_clocks.advance(clock_id, params),
            )
        )
        deadline = time.monotonic() + timeout
        while clock.status == "advancing" and time.monotonic() < deadline:
            time.sleep(0.05)
            clock = self.retrieve_test_clock(clock_id)
        return clock

    def retrieve_test_clock(self, clock_id: str) -> StripeTestClock:
        clock = self._call(
            "load the test clock", lambda: self._v1.test_helpers.test_clocks.retrieve(clock_id)
        )
        return StripeTestClock.of(clock)

    # webhooks

    def verified_body(self, payload: bytes, signature: str | None) -> object:
        """``payload`` parsed once its signature is verified with the signing secret; else
        ``WebhookRejected`` (``webhooks.event_from_body`` then reads the event from it)."""
        return verified_body(payload, signature, self.webhook_secret)


def gateway_for(app: Flask) -> StripeGateway:
    """The app's gateway, built once per configuration."""
    config = app.config
    settings = (
        config["STRIPE_SECRET_KEY"],
        config["STRIPE_API_BASE"],
        config["STRIPE_TEST_CLOCK"],
        config["STRIPE_WEBHOOK_SECRET"],
    )
    cached = app.extensions.get("stripe_gateway")
    if cached is None or cached[0] != settings:
        cached = (settings, StripeGateway(*settings))
        app.extensions["stripe_gateway"] = cached
    gateway: StripeGateway = cached[1]
    return gateway


def get_gateway() -> StripeGateway:
    """The current app's gateway."""
    return gateway_for(current_app)
