"""What the gateway returns: frozen dataclasses built from the SDK's objects.

The rest of the portal sees only these, never a ``stripe`` object, so each ``of`` is the one
place an SDK field is read and a Stripe API change is absorbed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import stripe

log = logging.getLogger("continuum.billing")


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
    #: In cents; below zero is credit that pays the next invoices.
    balance: int = 0

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
            balance=int(getattr(customer, "balance", 0) or 0),
        )


@dataclass(frozen=True)
class StripePrice:
    id: str
    lookup_key: str | None
    unit_amount: int | None
    currency: str
    interval: str | None
    product_id: str
    usage_type: str | None = None
    meter_id: str | None = None
    unit_amount_decimal: str | None = None

    @classmethod
    def of(cls, price: stripe.Price) -> StripePrice:
        recurring = price.recurring
        return cls(
            id=price.id,
            lookup_key=price.lookup_key,
            unit_amount=price.unit_amount,
            currency=price.currency,
            interval=recurring.interval if recurring else None,
            product_id=_id(price.product) or "",
            usage_type=recurring.usage_type if recurring else None,
            meter_id=recurring.meter if recurring else None,
            unit_amount_decimal=_decimal_text(price.unit_amount_decimal),
        )

    @property
    def metered(self) -> bool:
        return self.usage_type == "metered"


def _decimal_text(value: Any) -> str | None:
    """A decimal string field (the SDK gives a ``Decimal``) as Stripe wrote it, e.g. ``0.01``."""
    return None if value is None else str(value)


@dataclass(frozen=True)
class StripeMeter:
    id: str
    event_name: str
    display_name: str
    status: str
    formula: str
    customer_payload_key: str
    value_payload_key: str

    @classmethod
    def of(cls, meter: stripe.billing.Meter) -> StripeMeter:
        return cls(
            id=meter.id,
            event_name=meter.event_name,
            display_name=meter.display_name,
            status=meter.status,
            formula=meter.default_aggregation.formula,
            customer_payload_key=meter.customer_mapping.event_payload_key,
            value_payload_key=meter.value_settings.event_payload_key,
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
    #: The metered (overage) item, if the subscription has one, and its own current period.
    metered_item_id: str | None = None
    usage_period_start: datetime | None = None
    usage_period_end: datetime | None = None
    #: The card Checkout pinned on the subscription (None: the customer's default pays).
    default_payment_method_id: str | None = None
    #: Stripe's ``pause_collection.behavior`` while collection is paused, else None.
    pause_collection: str | None = None

    @classmethod
    def of(cls, sub: stripe.Subscription) -> StripeSubscription:
        # CONTINUUM subscriptions have one licensed item (the plan; its period is the
        # subscription's) and at most one metered item (overage, billed monthly in arrears).
        items = sub.items.data
        metered = next((item for item in items if _is_metered(item)), None)
        item = next((item for item in items if not _is_metered(item)), items[0])
        usage = metered or item
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
            metered_item_id=metered.id if metered else None,
            usage_period_start=_when(usage.current_period_start),
            usage_period_end=_when(usage.current_period_end),
            default_payment_method_id=_id(sub.default_payment_method),
            pause_collection=sub.pause_collection.behavior if sub.pause_collection else None,
        )


def _is_metered(item: stripe.SubscriptionItem) -> bool:
    recurring = item.price.recurring
    return recurring is not None and recurring.usage_type == "metered"


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
    paid_at: datetime | None = None

    @classmethod
    def of(cls, invoice: stripe.Invoice) -> StripeInvoice:
        parent = invoice.parent
        details = parent.subscription_details if parent else None
        transitions = getattr(invoice, "status_transitions", None)
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
            paid_at=_when(transitions.paid_at) if transitions else None,
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

    @classmethod
    def of(cls, intent: stripe.SetupIntent) -> StripeSetupIntent:
        return cls(
            id=intent.id,
            customer_id=_id(intent.customer),
            payment_method_id=_id(intent.payment_method),
            status=intent.status,
        )


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
    #: The API version the payload is rendered in (None when the event does not say).
    api_version: str | None = None
    #: The payload's ``object`` type (``invoice``, ``customer``...), to re-fetch it by.
    object_type: str | None = None

    def with_object(self, data_object: EventObject) -> WebhookEvent:
        """This event carrying ``data_object`` (re-fetched) instead of its own payload."""
        customer = (
            data_object.id
            if isinstance(data_object, StripeCustomer)
            else (getattr(data_object, "customer_id", None) or self.customer_id)
        )
        return replace(self, object=data_object, customer_id=customer)
