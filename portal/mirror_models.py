"""Tables that copy or total other data so a hot path need not compute it per request: the
overage outbox's per-day running total (the dashboard's poll) and the billing page's mirror of
the customer's cards and default card. Re-exported by ``portal.models``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
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
    card. ``synced_at`` is set once cards and invoices were backfilled from Stripe; until then the
    billing page fills the mirror on its first view."""

    __tablename__ = "customer_mirror"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(255))
    default_payment_method_id: Mapped[str | None] = mapped_column(String(255))
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
