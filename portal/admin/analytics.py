"""Revenue analytics from the local mirrors (subscriptions, contracts, invoices, the meter
outbox): MRR and its movements, churn, ARPU, conversion, payment success, past due, overage.

No Stripe call: everything is read from our own tables. Revenue is modelled as *streams*: a
subscription pays its catalog price per month (yearly plans 1/12 of the year's price) from the
moment it started paying (its start, or the end of its trial) until it ended; an enterprise
contract term pays its monthly price from when it took effect until it ended or was replaced.
A tenant's MRR at any moment is the sum of its streams running then, which is what every
"then versus now" figure below compares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.admin.contracts import midnight
from portal.billing.subscriptions import ended
from portal.models import EnterpriseContract, Invoice, MeterReport, Subscription, Tenant
from portal.plans import (
    PLANS,
    BillingInterval,
    PricingTier,
    UnknownTier,
    get_interval_from_price_id,
    get_tier_from_price_id,
    overage_cost_cents,
)

#: Subscriptions in these states never paid (the first charge did not go through).
NEVER_PAID = frozenset({"incomplete", "incomplete_expired"})
PRO_MONTHLY, PRO_YEARLY, ENTERPRISE = "Pro monthly", "Pro yearly", "Enterprise"
PLAN_KINDS = (PRO_MONTHLY, PRO_YEARLY, ENTERPRISE)
CHURN_WINDOW = timedelta(days=30)
CONVERSION_WINDOW = timedelta(days=90)
PAYMENT_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Stream:
    """Recurring revenue of one tenant over ``[start, end)``, in cents per month."""

    tenant_id: int
    kind: str
    monthly_cents: Decimal
    start: datetime
    end: datetime | None

    def running(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


def monthly_cents(lookup_key: str | None) -> tuple[str, Decimal] | None:
    """(plan kind, cents per month) of a catalog price; None for a price not in the catalog."""
    try:
        tier = get_tier_from_price_id(lookup_key)
        interval = get_interval_from_price_id(lookup_key)
    except UnknownTier:
        return None
    price = PLANS[tier].price(interval)
    if price is None:
        return None
    if interval == BillingInterval.YEAR:
        return PRO_YEARLY, price * 100 / 12
    return PRO_MONTHLY, price * 100


def subscription_streams(sub: Subscription, grace: timedelta, now: datetime) -> list[Stream]:
    """The paying time of one mirrored subscription, split at its last price change."""
    if sub.status in NEVER_PAID:
        return []
    start = sub.started_at or sub.created_at
    if sub.trial_end is not None and sub.trial_end > start:
        start = sub.trial_end
    end = _paid_until(sub, grace, now)
    if end is not None and end <= start:
        return []
    current = monthly_cents(sub.price_lookup_key)
    previous = monthly_cents(sub.previous_price_lookup_key)
    changed = sub.price_changed_at
    streams = []
    if previous is not None and changed is not None and changed > start:
        streams.append(Stream(sub.tenant_id, previous[0], previous[1], start, changed))
        start = changed
    if current is not None and (end is None or start < end):
        streams.append(Stream(sub.tenant_id, current[0], current[1], start, end))
    return streams


def _paid_until(sub: Subscription, grace: timedelta, now: datetime) -> datetime | None:
    """When the subscription stopped paying, or None while it pays."""
    if sub.ended_at is not None:
        return sub.ended_at
    if ended(sub, now):  # canceled at period end, the period over, the webhook not in yet
        return sub.current_period_end or sub.canceled_at or sub.updated_at
    if sub.status == "past_due" and sub.past_due_since is not None:
        grace_ends = sub.past_due_since + grace
        return grace_ends if grace_ends <= now else None
    if sub.status in ("unpaid", "paused"):
        return sub.canceled_at or sub.updated_at
    return None


def contract_stream(contract: EnterpriseContract) -> Stream | None:
    end = contract.replaced_at
    if contract.ends_on is not None:
        ends = midnight(contract.ends_on) + timedelta(days=1)
        end = ends if end is None else min(end, ends)
    if end is not None and end <= contract.effective_from:
        return None
    return Stream(
        contract.tenant_id,
        ENTERPRISE,
        Decimal(contract.price_month_cents),
        contract.effective_from,
        end,
    )


class Revenue:
    """Every tenant's revenue streams, loaded once, asked about any moment."""

    def __init__(self, streams: Iterable[Stream]) -> None:
        self.by_tenant: dict[int, list[Stream]] = defaultdict(list)
        for stream in streams:
            self.by_tenant[stream.tenant_id].append(stream)

    @classmethod
    def load(cls, session: Session, grace: timedelta, now: datetime) -> Revenue:
        streams: list[Stream] = []
        for sub in session.scalars(sa.select(Subscription)):
            streams += subscription_streams(sub, grace, now)
        for contract in session.scalars(sa.select(EnterpriseContract)):
            stream = contract_stream(contract)
            if stream is not None:
                streams.append(stream)
        return cls(streams)

    def tenant_mrr(self, at: datetime) -> dict[int, Decimal]:
        """Each paying tenant's MRR at ``at`` (cents)."""
        result: dict[int, Decimal] = {}
        for tenant_id, streams in self.by_tenant.items():
            total = sum((s.monthly_cents for s in streams if s.running(at)), Decimal(0))
            if total > 0:
                result[tenant_id] = total
        return result

    def mrr(self, at: datetime) -> Decimal:
        return sum(self.tenant_mrr(at).values(), Decimal(0))

    def paying_by_kind(self, at: datetime) -> dict[str, int]:
        """Paying tenants per plan and interval (a tenant with two plans counts in both)."""
        counts = dict.fromkeys(PLAN_KINDS, 0)
        for streams in self.by_tenant.values():
            for kind in {s.kind for s in streams if s.running(at) and s.monthly_cents > 0}:
                counts[kind] += 1
        return counts

    def ever_paid(self, tenant_id: int, by: datetime) -> bool:
        return any(s.start <= by for s in self.by_tenant.get(tenant_id, ()))


@dataclass(frozen=True)
class Movement:
    """One tenant's MRR change between two moments."""

    tenant_id: int
    kind: str  # new, expansion, contraction, churned
    before: Decimal
    after: Decimal

    @property
    def change(self) -> Decimal:
        return self.after - self.before


def movements(revenue: Revenue, start: datetime, end: datetime) -> list[Movement]:
    """New, expansion, contraction and churned MRR between ``start`` and ``end``."""
    then, now = revenue.tenant_mrr(start), revenue.tenant_mrr(end)
    result = []
    for tenant_id in sorted(set(then) | set(now)):
        before, after = then.get(tenant_id, Decimal(0)), now.get(tenant_id, Decimal(0))
        if before == after:
            continue
        if before == 0:
            kind = "new"
        elif after == 0:
            kind = "churned"
        else:
            kind = "expansion" if after > before else "contraction"
        result.append(Movement(tenant_id, kind, before, after))
    return result


def movement_totals(moves: Iterable[Movement]) -> dict[str, Decimal]:
    totals = dict.fromkeys(("new", "expansion", "contraction", "churned"), Decimal(0))
    for move in moves:
        totals[move.kind] += abs(move.change)
    return totals


@dataclass(frozen=True)
class Churn:
    paying_then: int
    lost: int
    mrr_then: Decimal
    mrr_lost: Decimal

    @property
    def logo_rate(self) -> Decimal | None:
        return ratio(self.lost, self.paying_then)

    @property
    def revenue_rate(self) -> Decimal | None:
        return ratio(self.mrr_lost, self.mrr_then)


def churn(revenue: Revenue, now: datetime, window: timedelta = CHURN_WINDOW) -> Churn:
    """Logo churn: tenants paying ``window`` ago who pay nothing now. Revenue churn: the MRR
    those tenants lost, by leaving or paying less, over the MRR they paid then."""
    then, current = revenue.tenant_mrr(now - window), revenue.tenant_mrr(now)
    lost = [t for t in then if t not in current]
    mrr_lost = sum(
        (max(Decimal(0), mrr - current.get(t, Decimal(0))) for t, mrr in then.items()), Decimal(0)
    )
    return Churn(len(then), len(lost), sum(then.values(), Decimal(0)), mrr_lost)


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    return None if not whole else Decimal(part) / Decimal(whole)


def month_starts(now: datetime, count: int = 12) -> list[datetime]:
    """The first instants of the last ``count`` UTC months, the current one last."""
    year, month = now.year, now.month
    starts = []
    for _ in range(count):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def month_end(start: datetime, now: datetime) -> datetime:
    """The moment a month's figures are read at: its last instant, or now for this month."""
    following = (start + timedelta(days=32)).replace(day=1)
    return min(following - timedelta(microseconds=1), now)


# --- conversion, payments, past due, overage -----------------------------------------------


@dataclass(frozen=True)
class Conversion:
    total: int
    converted: int

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.converted, self.total)


def trial_conversion(session: Session, start: datetime, end: datetime) -> Conversion:
    """Trials that ended in ``[start, end)``: how many were followed by a paid invoice."""
    paid = (
        sa.select(Invoice.id)
        .where(
            Invoice.subscription_id == Subscription.stripe_subscription_id,
            Invoice.status == "paid",
            Invoice.amount_paid > 0,
        )
        .exists()
    )
    rows = session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(paid)).where(
            Subscription.trial_end >= start, Subscription.trial_end < end
        )
    ).one()
    return Conversion(int(rows[0]), int(rows[1]))


def free_to_paid(
    session: Session, revenue: Revenue, start: datetime, end: datetime, now: datetime
) -> Conversion:
    """Tenants that signed up in ``[start, end)``: how many have paid for a plan since."""
    tenant_ids = session.scalars(
        sa.select(Tenant.id).where(Tenant.created_at >= start, Tenant.created_at < end)
    ).all()
    converted = sum(revenue.ever_paid(tenant_id, now) for tenant_id in tenant_ids)
    return Conversion(len(tenant_ids), converted)


def payment_success(session: Session, start: datetime, end: datetime) -> Conversion:
    """Invoices created in ``[start, end)`` with an amount due that Stripe tried to charge:
    how many its first attempt paid."""
    rows = session.execute(
        sa.select(
            sa.func.count(), sa.func.count().filter(Invoice.paid_first_attempt.is_(True))
        ).where(
            Invoice.created >= start,
            Invoice.created < end,
            Invoice.amount_due > 0,
            Invoice.attempt_count >= 1,
            Invoice.status.in_(("open", "paid", "uncollectible")),
        )
    ).one()
    return Conversion(int(rows[0]), int(rows[1]))


@dataclass(frozen=True)
class PastDue:
    tenant_id: int
    subscription_id: str
    since: datetime | None
    monthly_cents: Decimal


def past_due(session: Session) -> list[PastDue]:
    """Subscriptions in past_due now, with the MRR each carries (at risk if it never pays)."""
    subs = session.scalars(
        sa.select(Subscription)
        .where(Subscription.status == "past_due")
        .order_by(Subscription.past_due_since)
    )
    result = []
    for sub in subs:
        price = monthly_cents(sub.price_lookup_key)
        amount = price[1] if price else Decimal(0)
        result.append(
            PastDue(sub.tenant_id, sub.stripe_subscription_id, sub.past_due_since, amount)
        )
    return result


@dataclass(frozen=True)
class Overage:
    tenant_id: int
    period_start: datetime
    calls: int
    reported: int

    @property
    def cents(self) -> Decimal:
        return overage_cost_cents(self.calls)


def overage_this_period(session: Session, now: datetime) -> list[Overage]:
    """Each tenant's overage calls in its current usage period, from the meter outbox
    (reported to Stripe or not yet), priced at the catalog's overage rate."""
    current: dict[int, int] = {}
    subs = session.scalars(sa.select(Subscription).order_by(Subscription.id))
    for sub in subs:
        start = sub.usage_period_start or sub.current_period_start
        end = sub.usage_period_end or sub.current_period_end
        if start is not None and start <= now and (end is None or now < end):
            current[sub.tenant_id] = int(start.timestamp())
    if not current:
        return []
    reported = sa.case((MeterReport.reported_at.is_not(None), MeterReport.quantity), else_=0)
    rows = session.execute(
        sa.select(
            MeterReport.tenant_id,
            MeterReport.period_start,
            sa.func.sum(MeterReport.quantity),
            sa.func.sum(reported),
        )
        .where(MeterReport.tenant_id.in_(list(current)))
        .group_by(MeterReport.tenant_id, MeterReport.period_start)
    )
    result = [
        Overage(tenant_id, datetime.fromtimestamp(start, UTC), int(calls), int(done or 0))
        for tenant_id, start, calls, done in rows
        if current.get(tenant_id) == start and calls
    ]
    return sorted(result, key=lambda o: -o.calls)


def enterprise_without_contract(session: Session) -> int:
    """Enterprise tenants with no contract term in force: their revenue is unknown here."""
    in_force = sa.select(EnterpriseContract.tenant_id).where(
        EnterpriseContract.replaced_at.is_(None)
    )
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(
                Tenant.tier == PricingTier.ENTERPRISE.value, Tenant.id.not_in(in_force)
            )
        )
        or 0
    )
