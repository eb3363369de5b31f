"""Subscription state and sync: the local mirror of Stripe subscriptions and the tier they give.

``sync_subscription`` is the one way a Stripe subscription reaches our tables; the Checkout
success page, the webhook handlers and the plan-change actions all converge through it.
The status vocabulary (on_trial, on_grace_period, past_due, ended, valid) follows Cashier's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy.orm import ORMExecuteState, Session

from portal.db import dialect_insert
from portal.extensions import db
from portal.models import Subscription, Tenant, utcnow
from portal.plans import (
    PricingTier,
    UnknownTier,
    get_interval_from_price_id,
    get_tier_from_price_id,
)
from portal.stripe_gateway import StripeSubscription, get_gateway

log = logging.getLogger("continuum.billing")

#: Stripe statuses that pay for the tier outright.
PAYING_STATUSES = frozenset({"active", "trialing"})
#: Stripe statuses after which the subscription will never pay again.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


def grace_period() -> timedelta:
    return timedelta(days=current_app.config["PAST_DUE_GRACE_DAYS"])


# --- the vocabulary --------------------------------------------------------------------------


def on_trial(sub: Subscription, now: datetime | None = None) -> bool:
    """Trialing, with the trial still running."""
    now = now or utcnow()
    return sub.status == "trialing" and sub.trial_end is not None and sub.trial_end > now


def on_grace_period(sub: Subscription, now: datetime | None = None) -> bool:
    """Canceled at period end, but the paid period has not run out: it can still be resumed."""
    now = now or utcnow()
    return (
        sub.status in PAYING_STATUSES
        and sub.cancel_at_period_end
        and sub.current_period_end is not None
        and sub.current_period_end > now
    )


def past_due(sub: Subscription) -> bool:
    return sub.status == "past_due"


def past_due_grace_ends(sub: Subscription) -> datetime | None:
    """When a past-due subscription stops carrying its tier, or None if it is not past due."""
    if not past_due(sub) or sub.past_due_since is None:
        return None
    return sub.past_due_since + grace_period()


def ended(sub: Subscription, now: datetime | None = None) -> bool:
    """Will never pay again: canceled, expired unpaid, or cancel-at-period-end past the end."""
    now = now or utcnow()
    if sub.status in ENDED_STATUSES or sub.status == "unpaid":
        return True
    return bool(
        sub.cancel_at_period_end and sub.current_period_end and sub.current_period_end <= now
    )


def valid(sub: Subscription, now: datetime | None = None) -> bool:
    """Carries its paid tier right now (paying, or past due within the grace period)."""
    return tier_for(sub, now) != PricingTier.FREE


def tier_for(sub: Subscription, now: datetime | None = None) -> PricingTier:
    """The tier this subscription gives at ``now``, by the lifecycle rules in the README."""
    now = now or utcnow()
    if ended(sub, now):
        return PricingTier.FREE
    if sub.collection_paused:
        # Collection paused (by us or in the Dashboard): Stripe issues no invoice to pay, or
        # one nobody collects, so the paid tier is not paid for until collection resumes.
        return PricingTier.FREE
    if sub.status in PAYING_STATUSES:
        return PricingTier(sub.tier)
    grace_ends = past_due_grace_ends(sub)
    if grace_ends is not None and now < grace_ends:
        return PricingTier(sub.tier)
    # incomplete (first payment not made), paused, or past due beyond the grace period.
    return PricingTier.FREE


# --- queries ---------------------------------------------------------------------------------


def subscriptions_of(tenant: Tenant) -> list[Subscription]:
    """The tenant's mirrored subscriptions, newest first."""
    return list(db.session.scalars(_SUBSCRIPTIONS_OF, {"tenant_id": tenant.id}))


#: Built once: every dashboard page and poll of a paid tenant runs it (building it cost a third).
_SUBSCRIPTIONS_OF = (
    sa.select(Subscription)
    .where(Subscription.tenant_id == sa.bindparam("tenant_id"))
    .order_by(Subscription.created_at.desc(), Subscription.id.desc())
)


def current_subscription(tenant: Tenant) -> Subscription | None:
    """The subscription the portal shows: the newest one not ended, else the newest one.

    Read once per request and tenant (a page asks up to three times: the plan line, the
    billing period, the overage card), until the request writes (see ``_forget_subscriptions``)
    or has unflushed changes; outside a request, read every time."""
    session = db.session()
    memo: dict[int, tuple[Session, Subscription | None]] | None = None
    if has_request_context():
        memo = g.setdefault(_MEMO, {})
        hit = memo.get(tenant.id)
        if hit is not None and hit[0] is session and not _unflushed(session):
            return hit[1]
    subs = subscriptions_of(tenant)
    live = [sub for sub in subs if not ended(sub)]
    shown = live or subs
    current = shown[0] if shown else None
    if memo is not None:
        memo[tenant.id] = (session, current)
    return current


#: ``flask.g``'s key for the request's ``current_subscription`` answers, by tenant id.
_MEMO = "_current_subscriptions"


def _unflushed(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted)


def _forget_subscriptions(*_: object) -> None:
    """Any write through the session (a flush, an INSERT/UPDATE/DELETE statement), a commit or
    a rollback: the request's remembered subscriptions are read again next time."""
    if has_app_context():
        g.pop(_MEMO, None)


def _forget_after_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _forget_subscriptions()


for _event in ("after_flush", "after_commit", "after_rollback", "after_soft_rollback"):
    sa.event.listen(db.session, _event, _forget_subscriptions)
sa.event.listen(db.session, "do_orm_execute", _forget_after_write)


def lock_tenant(tenant: Tenant) -> None:
    """Serialize billing writes for one tenant until the transaction ends.

    A no-op UPDATE takes the row lock on PostgreSQL and the write lock on SQLite, so two
    syncs (a webhook and the success page, or two deliveries) never interleave.
    """
    db.session.execute(
        sa.update(Tenant).where(Tenant.id == tenant.id).values(tier_version=Tenant.tier_version)
    )


# --- sync ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    subscription: Subscription
    previous_tier: PricingTier
    tier: PricingTier
    became_past_due: bool

    @property
    def downgraded(self) -> bool:
        return self.previous_tier != PricingTier.FREE and self.tier == PricingTier.FREE


def sync_subscription(
    tenant: Tenant, subscription_id: str, *, event_created: int = 0
) -> SyncResult | None:
    """Re-fetch ``subscription_id`` from Stripe and mirror it; the tenant's tier follows.

    The tenant row is locked before the fetch, so a slower, older fetch can never be written
    over a newer one. Returns None when the subscription belongs to another customer.
    The caller commits.
    """
    lock_tenant(tenant)
    remote = get_gateway().retrieve_subscription(subscription_id)
    if remote.customer_id != tenant.stripe_customer_id:
        log.warning(
            "subscription %s belongs to customer %s, not tenant %s's; ignored",
            remote.id,
            remote.customer_id,
            tenant.id,
        )
        return None
    return apply_subscription(tenant, remote, event_created=event_created)


def apply_subscription(
    tenant: Tenant, remote: StripeSubscription, *, event_created: int = 0
) -> SyncResult:
    """Write a freshly fetched ``remote`` into the mirror and re-derive the tenant's tier."""
    sub = _mirror_row(tenant, remote)
    previous_tier = PricingTier(tenant.tier)
    old_status, before = sub.status, _snapshot(sub)
    _note_revenue_history(sub, remote, event_created)
    sub.status = remote.status
    sub.price_lookup_key = remote.lookup_key
    sub.tier = _paid_tier(remote).value
    sub.interval = _interval(remote)
    sub.cancel_at_period_end = remote.cancel_at_period_end
    sub.collection_paused = remote.pause_collection
    sub.current_period_start = remote.current_period_start
    sub.current_period_end = remote.current_period_end
    sub.metered_item_id = remote.metered_item_id
    sub.usage_period_start = remote.usage_period_start
    sub.usage_period_end = remote.usage_period_end
    sub.trial_end = remote.trial_end
    sub.canceled_at = remote.canceled_at
    sub.ended_at = remote.ended_at
    if remote.status == "past_due":
        # Stripe's time, not ours: under a test clock the event's `created` is the clock's time,
        # so the grace period lines up with the billing period the tenant sees.
        since = datetime.fromtimestamp(event_created, UTC) if event_created else utcnow()
        sub.past_due_since = sub.past_due_since or since
    else:
        sub.past_due_since = None
    sub.last_event_created = max(sub.last_event_created or 0, event_created)
    tier = refresh_tenant_tier(tenant)
    after = _snapshot(sub)
    if old_status == _NEW:
        log.info(
            "tenant %s: subscription %s created: %s", tenant.id, sub.stripe_subscription_id, after
        )
    elif after != before:
        log.info(
            "tenant %s: subscription %s changed: %s -> %s",
            tenant.id,
            sub.stripe_subscription_id,
            before,
            after,
        )
    became_past_due = past_due(sub) and old_status != "past_due"
    return SyncResult(sub, previous_tier, tier, became_past_due=became_past_due)


def _note_revenue_history(
    sub: Subscription, remote: StripeSubscription, event_created: int
) -> None:
    """Keep when the subscription started and its price before a plan change, which the
    operator console's revenue history needs (Stripe's time, as for ``past_due_since``)."""
    sub.started_at = sub.started_at or datetime.fromtimestamp(remote.created, UTC)
    if sub.price_lookup_key and sub.price_lookup_key != remote.lookup_key:
        sub.previous_price_lookup_key = sub.price_lookup_key
        sub.price_changed_at = (
            datetime.fromtimestamp(event_created, UTC) if event_created else utcnow()
        )


def _snapshot(sub: Subscription) -> str:
    """What the log says about a subscription: no ids beyond ours, no card data."""
    end = f"{sub.current_period_end:%Y-%m-%d}" if sub.current_period_end else "-"
    cancel = ", cancels at period end" if sub.cancel_at_period_end else ""
    return f"{sub.status} {sub.price_lookup_key or '-'} until {end}{cancel}"


#: The status of a mirror row inserted moments ago, in the same transaction.
_NEW = "new"


def _mirror_row(tenant: Tenant, remote: StripeSubscription) -> Subscription:
    """The mirror row for ``remote``, created if missing (race-free: unique id, ON CONFLICT)."""
    table = Subscription.__table__
    insert = dialect_insert(db.session.get_bind(), table).values(
        tenant_id=tenant.id,
        stripe_subscription_id=remote.id,
        status=_NEW,
        tier=PricingTier.FREE.value,
        cancel_at_period_end=False,
        last_event_created=0,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    db.session.execute(insert.on_conflict_do_nothing(index_elements=["stripe_subscription_id"]))
    sub = db.session.scalar(
        sa.select(Subscription)
        .where(Subscription.stripe_subscription_id == remote.id)
        .execution_options(populate_existing=True)
    )
    assert sub is not None
    return sub


def _paid_tier(remote: StripeSubscription) -> PricingTier:
    try:
        return get_tier_from_price_id(remote.lookup_key)
    except UnknownTier:
        # A price created by hand in the dashboard: mirror it, but it buys nothing here.
        log.warning("subscription %s uses unknown price %s", remote.id, remote.lookup_key)
        return PricingTier.FREE


def _interval(remote: StripeSubscription) -> str | None:
    try:
        return get_interval_from_price_id(remote.lookup_key).value
    except UnknownTier:
        return remote.interval


def refresh_tenant_tier(tenant: Tenant, now: datetime | None = None) -> PricingTier:
    """Set the tenant's tier from its subscriptions; Enterprise (sales-led) is left alone."""
    if tenant.tier == PricingTier.ENTERPRISE.value:
        return PricingTier.ENTERPRISE
    tiers = [tier_for(sub, now) for sub in subscriptions_of(tenant)]
    tier = PricingTier.PRO if PricingTier.PRO in tiers else PricingTier.FREE
    before = tenant.tier
    if tenant.set_tier(tier):
        log.info("tenant %s moved to the %s tier", tenant.id, tier.value)
        from portal.teams.activity import record_tier_change

        record_tier_change(tenant.id, before, tier.value)
    return tier


def resync_tenant(tenant: Tenant) -> list[SyncResult]:
    """Mirror every subscription Stripe holds for the tenant (recovery after missed webhooks)."""
    if not tenant.stripe_customer_id:
        return []
    lock_tenant(tenant)
    remote = get_gateway().list_subscriptions(tenant.stripe_customer_id)
    results = [apply_subscription(tenant, sub) for sub in remote]
    db.session.commit()
    return results


def expire_grace_periods(now: datetime | None = None) -> list[Tenant]:
    """Downgrade tenants whose past-due grace period ran out; returns those downgraded."""
    now = now or utcnow()
    cutoff = now - grace_period()
    tenants = db.session.scalars(
        sa.select(Tenant)
        .join(Subscription, Subscription.tenant_id == Tenant.id)
        .where(Subscription.status == "past_due", Subscription.past_due_since <= cutoff)
        .distinct()
    ).all()
    downgraded = []
    for tenant in tenants:
        before = tenant.tier
        if refresh_tenant_tier(tenant, now) == PricingTier.FREE and before != tenant.tier:
            downgraded.append(tenant)
    db.session.commit()
    return downgraded
