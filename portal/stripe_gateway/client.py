"""The one module that talks to Stripe (or the simulator standing in for it).

Everything else calls these thin, typed methods and gets plain dataclasses back, so no other
module imports ``stripe``. Every Stripe error leaves here as a ``PortalError`` whose message a
person can act on; connection trouble becomes ``BillingUnavailable``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe
from flask import Flask, current_app
from stripe._base_address import BaseAddresses
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
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
from stripe.params.checkout import SessionCreateParams as CheckoutSessionCreateParams
from stripe.params.checkout import (
    SessionCreateParamsSubscriptionData as CheckoutSubscriptionData,
)
from stripe.params.checkout import SessionListParams as CheckoutSessionListParams
from stripe.params.test_helpers import TestClockAdvanceParams, TestClockCreateParams

from portal.errors import BillingUnavailable, Conflict, NotFound, PortalError

log = logging.getLogger("continuum.billing")

#: Stripe's own default; events signed longer ago than this are refused.
WEBHOOK_TOLERANCE_SECONDS = 300
_NETWORK_RETRIES = 2
_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)

T = TypeVar("T")


class StripeObjectMissing(NotFound):
    """Stripe has no object with that id (deleted, or from another account)."""


class PaymentDeclined(PortalError):
    """The card was declined or needs a step the customer has not completed."""

    status_code = 402


class WebhookRejected(PortalError):
    """A webhook body that does not carry a valid, fresh Stripe signature."""


# --- what the gateway returns ----------------------------------------------------------------


def _when(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _id(value: Any) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the object."""
    if value is None or isinstance(value, str):
        return value
    return str(value.id)


def _metadata(value: Any) -> dict[str, str]:
    return {} if value is None else {str(k): str(v) for k, v in value.to_dict().items()}


@dataclass(frozen=True)
class StripeCustomer:
    id: str
    email: str | None
    deleted: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    default_payment_method_id: str | None = None

    @classmethod
    def of(cls, customer: stripe.Customer) -> StripeCustomer:
        if getattr(customer, "deleted", False):
            return cls(id=customer.id, email=None, deleted=True)
        settings = customer.invoice_settings
        return cls(
            id=customer.id,
            email=customer.email,
            metadata=_metadata(customer.metadata),
            default_payment_method_id=_id(settings.default_payment_method) if settings else None,
        )


@dataclass(frozen=True)
class StripePrice:
    id: str
    lookup_key: str | None
    unit_amount: int | None
    currency: str
    interval: str | None
    product_id: str

    @classmethod
    def of(cls, price: stripe.Price) -> StripePrice:
        return cls(
            id=price.id,
            lookup_key=price.lookup_key,
            unit_amount=price.unit_amount,
            currency=price.currency,
            interval=price.recurring.interval if price.recurring else None,
            product_id=_id(price.product) or "",
        )


@dataclass(frozen=True)
class StripeCheckoutSession:
    id: str
    url: str | None
    mode: str
    status: str | None
    customer_id: str | None
    client_reference_id: str | None
    subscription_id: str | None
    setup_intent_id: str | None
    metadata: dict[str, str]

    @classmethod
    def of(cls, session: stripe.checkout.Session) -> StripeCheckoutSession:
        return cls(
            id=session.id,
            url=session.url,
            mode=session.mode,
            status=session.status,
            customer_id=_id(session.customer),
            client_reference_id=session.client_reference_id,
            subscription_id=_id(session.subscription),
            setup_intent_id=_id(session.setup_intent),
            metadata=_metadata(session.metadata),
        )


@dataclass(frozen=True)
class StripeSubscription:
    id: str
    customer_id: str
    status: str
    item_id: str
    price_id: str
    lookup_key: str | None
    interval: str | None
    cancel_at_period_end: bool
    cancel_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_end: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None
    created: int
    metadata: dict[str, str]
    latest_invoice_id: str | None

    @classmethod
    def of(cls, sub: stripe.Subscription) -> StripeSubscription:
        # CONTINUUM subscriptions have exactly one item; its period is the subscription's.
        item = sub.items.data[0]
        return cls(
            id=sub.id,
            customer_id=_id(sub.customer) or "",
            status=sub.status,
            item_id=item.id,
            price_id=item.price.id,
            lookup_key=item.price.lookup_key,
            interval=item.price.recurring.interval if item.price.recurring else None,
            cancel_at_period_end=sub.cancel_at_period_end,
            cancel_at=_when(sub.cancel_at),
            current_period_start=_when(item.current_period_start),
            current_period_end=_when(item.current_period_end),
            trial_end=_when(sub.trial_end),
            canceled_at=_when(sub.canceled_at),
            ended_at=_when(sub.ended_at),
            created=sub.created,
            metadata=_metadata(sub.metadata),
            latest_invoice_id=_id(sub.latest_invoice),
        )


@dataclass(frozen=True)
class StripeInvoiceLine:
    description: str | None
    amount: int
    proration: bool


@dataclass(frozen=True)
class StripeInvoice:
    id: str | None  # previews have no id
    number: str | None
    status: str | None
    customer_id: str | None
    subscription_id: str | None
    currency: str
    amount_due: int
    amount_paid: int
    total: int
    created: datetime | None
    period_start: datetime | None
    period_end: datetime | None
    attempt_count: int
    next_payment_attempt: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    lines: list[StripeInvoiceLine]

    @classmethod
    def of(cls, invoice: stripe.Invoice) -> StripeInvoice:
        parent = invoice.parent
        details = parent.subscription_details if parent else None
        return cls(
            id=getattr(invoice, "id", None),
            number=invoice.number,
            status=invoice.status,
            customer_id=_id(invoice.customer),
            subscription_id=_id(details.subscription) if details else None,
            currency=invoice.currency,
            amount_due=invoice.amount_due,
            amount_paid=invoice.amount_paid,
            total=invoice.total,
            created=_when(invoice.created),
            period_start=_when(invoice.period_start),
            period_end=_when(invoice.period_end),
            attempt_count=invoice.attempt_count,
            next_payment_attempt=_when(invoice.next_payment_attempt),
            hosted_invoice_url=invoice.hosted_invoice_url,
            invoice_pdf=invoice.invoice_pdf,
            lines=[_line(line) for line in invoice.lines.data],
        )


def _line(line: stripe.InvoiceLineItem) -> StripeInvoiceLine:
    parent = line.parent
    proration = False
    if parent and parent.subscription_item_details:
        proration = parent.subscription_item_details.proration
    elif parent and parent.invoice_item_details:
        proration = parent.invoice_item_details.proration
    return StripeInvoiceLine(description=line.description, amount=line.amount, proration=proration)


@dataclass(frozen=True)
class StripePaymentMethod:
    id: str
    customer_id: str | None
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None

    @classmethod
    def of(cls, method: stripe.PaymentMethod) -> StripePaymentMethod:
        card = method.card
        return cls(
            id=method.id,
            customer_id=_id(method.customer),
            brand=card.brand if card else None,
            last4=card.last4 if card else None,
            exp_month=card.exp_month if card else None,
            exp_year=card.exp_year if card else None,
        )


@dataclass(frozen=True)
class StripeSetupIntent:
    id: str
    customer_id: str | None
    payment_method_id: str | None
    status: str


@dataclass(frozen=True)
class StripeTestClock:
    id: str
    frozen_time: int
    status: str

    @classmethod
    def of(cls, clock: stripe.test_helpers.TestClock) -> StripeTestClock:
        return cls(id=clock.id, frozen_time=clock.frozen_time, status=clock.status)


#: The typed payloads a webhook event can carry; anything else arrives as ``None``.
EventObject = (
    StripeCustomer
    | StripeSubscription
    | StripeInvoice
    | StripeCheckoutSession
    | StripePaymentMethod
    | None
)


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: int
    livemode: bool
    object_id: str | None
    customer_id: str | None
    object: EventObject


def _event_object(value: Any) -> EventObject:
    parsers: list[tuple[type[Any], Callable[[Any], EventObject]]] = [
        (stripe.Customer, StripeCustomer.of),
        (stripe.Subscription, StripeSubscription.of),
        (stripe.Invoice, StripeInvoice.of),
        (stripe.checkout.Session, StripeCheckoutSession.of),
        (stripe.PaymentMethod, StripePaymentMethod.of),
    ]
    for kind, parse in parsers:
        if isinstance(value, kind):
            try:
                return parse(value)
            except (AttributeError, IndexError, KeyError, TypeError):
                log.warning("event object %s has an unexpected shape", getattr(value, "id", "?"))
                return None
    return None


def _event_customer(value: Any) -> str | None:
    if isinstance(value, stripe.Customer):
        return value.id
    return _id(getattr(value, "customer", None))


# --- errors ----------------------------------------------------------------------------------


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Re-raise any Stripe error from ``action`` as a portal error a person can act on."""
    try:
        yield
    except stripe.APIConnectionError as error:
        log.warning("stripe unreachable while trying to %s: %s", action, error.user_message)
        raise BillingUnavailable(
            f"We could not reach our payment provider to {action}. Nothing was charged or "
            "changed; please try again in a minute."
        ) from error
    except stripe.CardError as error:
        raise PaymentDeclined(
            f"Your card was declined: {error.user_message or 'the bank refused the charge'}. "
            "Try another card."
        ) from error
    except stripe.RateLimitError as error:
        raise BillingUnavailable(
            f"Our payment provider is busy and could not {action}. Please try again shortly."
        ) from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        log.error("stripe refused our API key while trying to %s", action)
        raise BillingUnavailable(
            f"Billing is misconfigured on our side, so we could not {action}. "
            "Nothing was changed; the team has been told."
        ) from error
    except stripe.IdempotencyError as error:
        raise Conflict(
            f"A request to {action} is already in progress with different details. "
            "Reload the page and try again."
        ) from error
    except stripe.InvalidRequestError as error:
        if error.code == "resource_missing":
            raise StripeObjectMissing(
                f"Our payment provider has no record of that, so we could not {action}. "
                "Reload the page; if it persists, contact support."
            ) from error
        log.error("stripe rejected a request to %s: %s", action, error.user_message)
        raise PortalError(
            f"Our payment provider refused to {action}: {error.user_message}"
        ) from error
    except stripe.StripeError as error:
        log.error("stripe failed to %s: %s", action, error.user_message)
        raise BillingUnavailable(
            f"Our payment provider had a problem and could not {action}. Nothing was "
            "changed; please try again in a minute."
        ) from error


def _replayed(obj: stripe.StripeObject) -> bool:
    """Whether Stripe answered from its idempotency cache (the create ran before)."""
    response = obj.last_response
    return response is not None and response.headers.get("Idempotent-Replayed") == "true"


def _key(*parts: object) -> str:
    """A deterministic idempotency key: the same logical create always sends the same key."""
    return "continuum-" + "-".join(str(part) for part in parts)


def _fresh_key(purpose: str) -> str:
    """A per-call idempotency key: network retries of this one call stay safe."""
    return f"continuum-{purpose}-{uuid.uuid4().hex}"


# --- the gateway -----------------------------------------------------------------------------


class StripeGateway:
    """Typed calls to Stripe. Build one with :func:`get_gateway`."""

    def __init__(
        self, secret_key: str, api_base: str = "", test_clock: str = "", webhook_secret: str = ""
    ) -> None:
        if not secret_key:
            raise BillingUnavailable(
                "Billing is not configured on this server (STRIPE_SECRET_KEY is not set)."
            )
        live = secret_key.startswith(("sk_live_", "rk_live_"))
        if live and (api_base or test_clock):
            raise BillingUnavailable(
                "Billing is misconfigured: a live Stripe key is never used with the simulator "
                "(STRIPE_API_BASE) or a test clock (STRIPE_TEST_CLOCK)."
            )
        bases: BaseAddresses = {}
        if api_base:
            bases = {"api": api_base, "connect": api_base, "files": api_base}
        self.test_clock = test_clock
        self.webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=bases,
            max_network_retries=_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=_TIMEOUT),
        )
        self._v1 = self._client.v1

    def _call(self, action: str, call: Callable[[], T]) -> T:
        with _translated(action):
            return call()

    # customers

    def create_customer(self, tenant_id: int, email: str | None, name: str) -> StripeCustomer:
        """Create the tenant's customer; the key is the tenant, so repeats return the same one.

        A replayed answer naming a customer deleted since then means the tenant needs a new
        one, under a key of its own (derived from the deleted customer, so still repeatable).
        """
        params: CustomerCreateParams = {"name": name, "metadata": {"tenant_id": str(tenant_id)}}
        if email:
            params["email"] = email
        if self.test_clock:
            params["test_clock"] = self.test_clock
        key = _key("customer", "tenant", tenant_id)
        for _ in range(5):
            customer = self._create_customer(params, key)
            if not _replayed(customer) or not self.retrieve_customer(customer.id).deleted:
                return StripeCustomer.of(customer)
            key = _key("customer", "tenant", tenant_id, "after", customer.id)
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
    ) -> StripeCheckoutSession:
        """A Checkout Session that starts a subscription to ``price_id`` for the customer."""
        subscription_data: CheckoutSubscriptionData = {"metadata": {"tenant_id": str(tenant_id)}}
        if trial_days > 0:
            subscription_data["trial_period_days"] = trial_days
        params: CheckoutSessionCreateParams = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(tenant_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "subscription_data": subscription_data,
            "metadata": {"tenant_id": str(tenant_id)},
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

    def list_open_checkout_sessions(self, customer_id: str) -> list[StripeCheckoutSession]:
        params: CheckoutSessionListParams = {
            "customer": customer_id,
            "status": "open",
            "limit": 100,
        }
        listed = self._call(
            "look up your open checkouts", lambda: self._v1.checkout.sessions.list(params)
        )
        return [StripeCheckoutSession.of(session) for session in listed.data]

    def expire_checkout_session(self, session_id: str) -> StripeCheckoutSession:
        return StripeCheckoutSession.of(
            self._call("close the checkout", lambda: self._v1.checkout.sessions.expire(session_id))
        )

    def create_billing_portal_session(self, customer_id: str, return_url: str) -> str:
        params: PortalSessionCreateParams = {"customer": customer_id, "return_url": return_url}
        session = self._call(
            "open the billing portal",
            lambda: self._v1.billing_portal.sessions.create(
                params, {"idempotency_key": _fresh_key("portal")}
            ),
        )
        return session.url

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
        return StripeSetupIntent(
            id=intent.id,
            customer_id=_id(intent.customer),
            payment_method_id=_id(intent.payment_method),
            status=intent.status,
        )

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

    def advance_test_clock(self, clock_id: str, frozen_time: int) -> StripeTestClock:
        params: TestClockAdvanceParams = {"frozen_time": frozen_time}
        clock = self._call(
            "advance the test clock",
            lambda: self._v1.test_helpers.test_clocks.advance(clock_id, params),
        )
        return StripeTestClock.of(clock)

    def retrieve_test_clock(self, clock_id: str) -> StripeTestClock:
        clock = self._call(
            "load the test clock", lambda: self._v1.test_helpers.test_clocks.retrieve(clock_id)
        )
        return StripeTestClock.of(clock)

    # webhooks

    def construct_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Verify ``payload`` with the signing secret and parse it; else ``WebhookRejected``."""
        if not self.webhook_secret:
            # An empty secret verifies against an empty key, which anyone can forge.
            raise BillingUnavailable("Webhooks are refused: STRIPE_WEBHOOK_SECRET is not set.")
        try:
            event = self._client.construct_event(
                payload, signature, self.webhook_secret, WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(f"Invalid Stripe signature: {error.user_message}") from error
        except ValueError as error:
            raise WebhookRejected("The body is not a Stripe event (malformed JSON).") from error
        except (AttributeError, KeyError, TypeError) as error:
            raise WebhookRejected("The body is signed but is not a Stripe event.") from error
        try:
            data_object = event.data.object
            return WebhookEvent(
                id=str(event.id),
                type=str(event.type),
                created=int(event.created),
                livemode=bool(event.livemode),
                object_id=getattr(data_object, "id", None),
                customer_id=_event_customer(data_object),
                object=_event_object(data_object),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise WebhookRejected("The body is signed but is not a Stripe event.") from error


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
