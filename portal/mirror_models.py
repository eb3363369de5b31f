"""Tables that copy or total other data so a hot path need not compute it per request: the
overage outbox's per-day running total (the dashboard's poll) and the billing page's mirror of
the customer's cards and default card, and of its invoices. Re-exported by ``portal.models``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class MeterDayTotal(Base):
    """A running total of ``meter_report``: one tenant's overage calls of one usage period whose
    events fall on one UTC day (``day``: days since the epoch).

    Kept by database triggers on ``meter_report`` (insert, update, delete; migration 0010), in
    the same transaction as the outbox write, so the dashboard's overage card sums at most a
    month of these rows instead of one outbox row per flush. A batch migration that rebuilds
    ``meter_report`` on SQLite must create the triggers again.
    """

    __tablename__ = "meter_day_total"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)


class CustomerMirror(Base):
    """What the billing page needs of the tenant's Stripe customer besides invoices: its default
    card and its balance. ``synced_at`` is set once cards and invoices were backfilled from
    Stripe; until then the billing page fills the mirror on its first view."""

    __tablename__ = "customer_mirror"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(255))
    default_payment_method_id: Mapped[str | None] = mapped_column(String(255))
    #: Stripe's ``balance`` in cents: below zero is credit that pays the next invoices.
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: Stripe ``created`` of the newest customer event applied (older ones are skipped).
    last_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PaymentMethodMirror(Base):
    """A local copy of one saved card (brand, last four digits, expiry: never the number), fed
    by the ``payment_method.*`` webhooks, the billing actions and ``flask stripe resync``."""

    __tablename__ = "payment_method"

    #: Stripe's payment method id (``pm_...``).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(String(255))
    brand: Mapped[str | None] = mapped_column(String(32))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None] = mapped_column(Integer)
    exp_year: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mirrored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Invoice(Base):
    """A local mirror of one Stripe invoice, fed by the invoice webhooks and ``flask stripe
    resync``: the billing page and the operator console read it instead of calling Stripe."""

    __tablename__ = "invoice"

    #: Stripe's invoice id (``in_...``).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(255))
    subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    number: Mapped[str | None] = mapped_column(String(100))
    #: draft, open, paid, uncollectible or void.
    status: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    #: When Stripe retries an unpaid invoice on its own (None: no retry left, or not unpaid).
    next_payment_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Paid by its first charge attempt (None while unpaid): the payment success rate's count.
    paid_first_attempt: Mapped[bool | None] = mapped_column(Boolean)
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    invoice_pdf: Mapped[str | None] = mapped_column(Text)
    #: Stripe's ``created``.
    created: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: [{"description", "amount", "proration"}], what the billing page lists.
    lines: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    mirrored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
