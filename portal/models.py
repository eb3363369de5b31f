"""The portal's tables, as typed SQLAlchemy 2.0 models (the hot paths' running total and the
billing page's card mirror are in ``portal.mirror_models``, re-exported here).

The schema is created and changed only through the Alembic migrations in ``migrations/``.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.mirror_models import (  # noqa: F401 (re-exported)
    CustomerMirror,
    Invoice,
    MeterDayTotal,
    PaymentMethodMirror,
)
from portal.plans import OVERAGE_CAP_DEFAULT_CENTS, PricingTier, TierLimits, get_tier_limits


class Tenant(Base):
    """A customer account: what is billed, limited and metered."""

    __tablename__ = "tenant"
    #: Ids are never reused (SQLite AUTOINCREMENT), so nothing keyed by a deleted one is inherited.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20), default=PricingTier.FREE.value)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: An enterprise contract's numeric limit overrides, e.g. {"api_calls_per_day": 5000000}.
    limit_overrides: Mapped[dict[str, int] | None] = mapped_column(JSON)
    #: Bumped on every tier or override change, so cached tier lookups can tell they are stale.
    tier_version: Mapped[int] = mapped_column(Integer, default=1)
    #: Pro overage: calls past the daily quota are admitted and billed, up to a monthly spend cap.
    overage_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    overage_cap_cents: Mapped[int] = mapped_column(
        Integer, default=OVERAGE_CAP_DEFAULT_CENTS, server_default=str(OVERAGE_CAP_DEFAULT_CENTS)
    )
    #: Usage alerts switched off, by name (``portal.billing.alerts``); absent means on.
    alerts_off: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="tenant")

    @property
    def pricing_tier(self) -> PricingTier:
        return PricingTier(self.tier)

    @property
    def limits(self) -> TierLimits:
        return get_tier_limits(self.tier, self.limit_overrides)

    def set_tier(self, tier: PricingTier) -> bool:
        """Move to ``tier``; returns whether anything changed."""
        if self.tier == tier.value:
            return False
        self.tier = tier.value
        self.tier_version = (self.tier_version or 0) + 1
        return True

    def set_limit_overrides(self, overrides: dict[str, int] | None) -> bool:
        """Replace the contract's limit overrides (None: the tier's own limits); returns
        whether anything changed. A new dict is assigned, so the ORM sees the change."""
        cleaned = dict(overrides) if overrides else None
        if (self.limit_overrides or None) == cleaned:
            return False
        self.limit_overrides = cleaned
        self.tier_version = (self.tier_version or 0) + 1
        return True


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: CONTINUUM staff: may use the operator console. Not a tenant role; staff need no tenant.
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The staff member's TOTP secret (base32), set on their first console sign-in.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The last TOTP time step accepted, so one code cannot be used twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: Bumped when the user signs out: every session cookie issued before then stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    @property
    def password_fingerprint(self) -> str:
        """A short digest of the password hash; it changes whenever the password does."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:32]

    # What Flask-Login asks of a user (its UserMixin, written out so this module stays free of
    # web imports): a stored user is always an active, authenticated, non-anonymous user.
    is_active = True
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        # The session names the password and the session version too, so changing the
        # password or signing out ends every session (portal.auth.sessions).
        return f"{self.id}:{self.password_fingerprint}:{self.session_version or 0}"

    @property
    def tenant(self) -> Tenant:
        """The user's first team, for scripts. Web code acts for the session's current team:
        ``portal.teams.context.current_tenant()``."""
        return self.memberships[0].tenant


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    #: owner, billing, developer or viewer (``portal.teams.roles``).
    role: Mapped[str] = mapped_column(String(20), default="owner")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    tenant: Mapped[Tenant] = relationship(back_populates="memberships")


class ApiKey(Base):
    """An API key. Only its SHA-256 and a short display prefix are stored."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The member who made it (None: made before teams, or by a member since deleted).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_by: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Subscription(Base):
    """A local mirror of one Stripe subscription; the tenant's tier is derived from it."""

    __tablename__ = "subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    price_lookup_key: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(20))
    interval: Mapped[str | None] = mapped_column(String(10))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The metered overage item (``continuum_pro_api_calls``), once the subscription has one.
    metered_item_id: Mapped[str | None] = mapped_column(String(255))
    #: The metered item's own current period (the overage cap's period; on a yearly plan it is
    #: monthly). Falls back to the subscription's period while there is no metered item.
    usage_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    usage_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Stripe ``created`` (epoch seconds) of the newest event or fetch applied to this row.
    last_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When Stripe created the subscription (its ``created``); revenue history starts here.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The price before the last plan change and when it changed, so revenue history can tell
    #: an expansion or contraction inside one subscription (e.g. monthly to yearly).
    previous_price_lookup_key: Mapped[str | None] = mapped_column(String(100))
    price_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Stripe's ``pause_collection.behavior`` while collection is paused (void,
    #: keep_as_draft, mark_uncollectible), else None. Paused collection carries no paid tier.
    collection_paused: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StripeEvent(Base):
    """The idempotency record of a Stripe webhook event: inserted first, once."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    #: The tenant the event was applied to (None: not one of ours, or not about a customer).
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="SET NULL"), index=True
    )


class UsageCounter(Base):
    """One tenant's count of one metric on one UTC day, written by batched upserts."""

    __tablename__ = "usage_counter"
    #: The usage alerts read today's rows of every tenant: the day leads this index.
    __table_args__ = (Index("ix_usage_counter_day_metric", "day", "metric"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(160), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class StorageUsage(Base):
    """What a tenant currently stores, as reported by the CONTINUUM API."""

    __tablename__ = "storage_usage"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    memories: Mapped[int] = mapped_column(BigInteger, default=0)
    embeddings: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class UsageBatchLedger(Base):
    """Usage batches from Redis already in ``usage_counter``, written in the same transaction:
    a batch retaken after its flusher died between commit and acknowledgement is skipped."""

    __tablename__ = "usage_batch_ledger"

    batch_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    flushed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class MeterReport(Base):
    """The overage outbox: calls billed as overage, waiting to be reported to Stripe's meter.

    Rows are written by the usage flush in the same transaction as the counts, and marked
    ``reported_at`` once Stripe accepted the meter event. The event's identifier is derived
    from the row (``identifier``), so a resend after a crash is deduplicated by Stripe (for
    about 24 hours) and by this ledger (for ever).
    """

    __tablename__ = "meter_report"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    #: The usage period (epoch seconds of its start) the calls count against.
    period_start: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    #: The meter event's timestamp (epoch seconds): inside the period, when the calls were made.
    event_time: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: Set when Stripe refused the event for good (the reason is in ``last_error``).
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A reporter that took the row holds it until then (another one skips it meanwhile).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    def identifier(self, stripe_customer_id: str) -> str:
        """The meter event identifier: (customer, period, sequence), the same on every resend."""
        return f"ovg_{stripe_customer_id}_{self.period_start}_{self.id}"


class UsageAlert(Base):
    """One usage alert sent (or being sent): inserted once per tenant, alert and period, so
    each alert goes out once across processes and restarts."""

    __tablename__ = "usage_alert"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    #: e.g. ``daily_80``, ``cap_50`` (``portal.billing.alerts``).
    alert: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: The UTC day (``2026-11-28``) or usage period start (``p1764288000``) it belongs to.
    period: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EnterpriseInquiry(Base):
    """A request to talk to sales about an Enterprise contract."""

    __tablename__ = "enterprise_inquiry"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    company: Mapped[str] = mapped_column(String(200))
    expected_calls_per_day: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Where sales is with it: new, contacted, won or lost (``INQUIRY_STATUSES``).
    status: Mapped[str] = mapped_column(String(20), default="new", server_default="new")


INQUIRY_STATUSES = ("new", "contacted", "won", "lost")


class EnterpriseContract(Base):
    """One term of an enterprise contract: its monthly price, dates, notes and limit overrides.

    Editing a contract replaces its term (``replaced_at``) with a new one effective from then,
    so revenue history keeps what was charged when. The overrides the API enforces live on the
    tenant (``Tenant.limit_overrides``); the term records what it set.
    """

    __tablename__ = "enterprise_contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    price_month_cents: Mapped[int] = mapped_column(BigInteger)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    limit_overrides: Mapped[dict[str, int] | None] = mapped_column(JSON)
    #: When this term's price starts to count: the start date, or the moment of an edit.
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When an edit replaced this term, or the tenant returned to the Free/Pro rules.
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))


class AdminAudit(Base):
    """One staff action: who, what, which tenant, the state before and after, and when."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    #: The staff member's address, or ``shell (<login>)`` for the ``flask`` commands.
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="SET NULL"), index=True
    )
    before: Mapped[dict[str, object] | None] = mapped_column(JSON)
    after: Mapped[dict[str, object] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
