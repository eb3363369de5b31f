"""Usage analytics from ``usage_counter`` and ``storage_usage``: API calls per tier, days at the
daily limit, feature adoption, top tenants and tenants near their limits.

Tenants are grouped by their tier *now* (tiers have no history table), which the console says.
Every query is an aggregate over the counters' primary key range; per-tenant work in Python is
limited to the rows that can matter (e.g. only days at or above the smallest daily limit).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.enforcement.lifecycle import CLIENT_ERROR, OUTCOME_PREFIX, OUTCOMES, SUCCEEDED
from portal.models import StorageUsage, Tenant, UsageCounter
from portal.plans import BYTES_PER_MB, Feature, PricingTier, get_tier_limits

CALLS = "api_calls"
FEDERATION_CONTRIBUTIONS = "federation_contributions"
#: The CONTINUUM API's feature-gated routes (the per-endpoint metric is ``api_calls:<route>``).
FEATURE_ROUTES: dict[Feature, tuple[str, ...]] = {
    Feature.SEMANTIC_SEARCH: ("/api/search",),
    Feature.FEDERATION: ("/api/federation",),
    Feature.REALTIME_SYNC: ("/api/realtime",),
}
TIERS = tuple(tier.value for tier in PricingTier)
NEAR_LIMIT_PERCENT = 80


def _calls_by_tier_and_day(
    session: Session, metric: str | list[str], first: date, last: date
) -> list[tuple[str, date, int]]:
    metrics = [metric] if isinstance(metric, str) else metric
    rows = session.execute(
        sa.select(Tenant.tier, UsageCounter.day, sa.func.sum(UsageCounter.value))
        .select_from(UsageCounter)
        .join(Tenant, Tenant.id == UsageCounter.tenant_id)
        .where(
            UsageCounter.metric.in_(metrics), UsageCounter.day >= first, UsageCounter.day <= last
        )
        .group_by(Tenant.tier, UsageCounter.day)
    )
    return [(tier, day, int(total)) for tier, day, total in rows]


def calls_per_tier(session: Session, first: date, last: date) -> dict[str, int]:
    """API calls made from ``first`` to ``last`` (UTC days), by the caller's tier."""
    totals = dict.fromkeys(TIERS, 0)
    for tier, _, calls in _calls_by_tier_and_day(session, CALLS, first, last):
        totals[tier] = totals.get(tier, 0) + calls
    return totals


def monthly_calls_per_tier(
    session: Session, months: list[date], last: date
) -> dict[str, list[int]]:
    """Calls per tier in each month starting at ``months`` (first days), up to ``last``."""
    series = {tier: [0] * len(months) for tier in TIERS}
    index = {(m.year, m.month): i for i, m in enumerate(months)}
    for tier, day, calls in _calls_by_tier_and_day(session, CALLS, months[0], last):
        slot = index.get((day.year, day.month))
        if slot is not None:
            series.setdefault(tier, [0] * len(months))[slot] += calls
    return series


@dataclass(frozen=True)
class LimitHits:
    tier: str
    active_days: int
    days_at_limit: int

    @property
    def rate(self) -> float | None:
        return self.days_at_limit / self.active_days if self.active_days else None


def daily_limit_hits(session: Session, first: date, last: date) -> list[LimitHits]:
    """Per tier: tenant-days with any call, and those that reached the daily call limit
    (contract overrides included)."""
    active: dict[str, int] = dict.fromkeys(TIERS, 0)
    rows = session.execute(
        sa.select(Tenant.tier, sa.func.count())
        .select_from(UsageCounter)
        .join(Tenant, Tenant.id == UsageCounter.tenant_id)
        .where(
            UsageCounter.metric == CALLS,
            UsageCounter.day >= first,
            UsageCounter.day <= last,
            UsageCounter.value > 0,
        )
        .group_by(Tenant.tier)
    )
    for tier, count in rows:
        active[tier] = int(count)
    limits = _daily_limits(session)
    hits = dict.fromkeys(TIERS, 0)
    floor = min(limits.values(), default=0)
    candidates = session.execute(
        sa.select(UsageCounter.tenant_id, UsageCounter.value).where(
            UsageCounter.metric == CALLS,
            UsageCounter.day >= first,
            UsageCounter.day <= last,
            UsageCounter.value >= floor,
        )
    )
    tiers = dict(session.execute(sa.select(Tenant.id, Tenant.tier)).all())
    for tenant_id, value in candidates:
        if tenant_id in limits and value >= limits[tenant_id]:
            hits[tiers[tenant_id]] += 1
    return [LimitHits(tier, active[tier], hits[tier]) for tier in TIERS]


def _daily_limits(session: Session) -> dict[int, int]:
    rows = session.execute(sa.select(Tenant.id, Tenant.tier, Tenant.limit_overrides))
    return {
        tenant_id: get_tier_limits(tier, overrides).api_calls_per_day
        for tenant_id, tier, overrides in rows
    }


@dataclass(frozen=True)
class FeatureUse:
    feature: str
    tier: str
    calls: int
    tenants: int


def feature_adoption(session: Session, first: date, last: date) -> list[FeatureUse]:
    """Per feature and tier: calls to the feature's routes and how many tenants made them."""
    result = []
    for feature, routes in FEATURE_ROUTES.items():
        metrics = [f"{CALLS}:{route}" for route in routes]
        rows = dict(
            (tier, (int(calls), int(tenants)))
            for tier, calls, tenants in session.execute(
                sa.select(
                    Tenant.tier,
                    sa.func.sum(UsageCounter.value),
                    sa.func.count(sa.distinct(UsageCounter.tenant_id)),
                )
                .select_from(UsageCounter)
                .join(Tenant, Tenant.id == UsageCounter.tenant_id)
                .where(
                    UsageCounter.metric.in_(metrics),
                    UsageCounter.day >= first,
                    UsageCounter.day <= last,
                    UsageCounter.value > 0,
                )
                .group_by(Tenant.tier)
            )
        )
        for tier in TIERS:
            calls, tenants = rows.get(tier, (0, 0))
            result.append(FeatureUse(feature.value, tier, calls, tenants))
    return result


@dataclass(frozen=True)
class TenantUsage:
    tenant_id: int
    name: str
    tier: str
    calls: int
    today: int
    daily_limit: int

    @property
    def today_percent(self) -> int:
        return self.today * 100 // self.daily_limit if self.daily_limit else 0


def top_tenants(session: Session, first: date, today: date, limit: int = 20) -> list[TenantUsage]:
    """The tenants that made the most calls from ``first`` to ``today``."""
    total = sa.func.sum(UsageCounter.value).label("calls")
    busiest = (
        sa.select(UsageCounter.tenant_id, total)
        .where(UsageCounter.metric == CALLS, UsageCounter.day >= first, UsageCounter.day <= today)
        .group_by(UsageCounter.tenant_id)
        .order_by(total.desc(), UsageCounter.tenant_id)
        .limit(limit)
        .subquery()
    )
    rows = session.execute(
        sa.select(Tenant.id, Tenant.name, Tenant.tier, Tenant.limit_overrides, busiest.c.calls)
        .join(busiest, busiest.c.tenant_id == Tenant.id)
        .order_by(busiest.c.calls.desc(), Tenant.id)
    ).all()
    todays = _today_calls(session, [row[0] for row in rows], today)
    return [
        TenantUsage(
            tenant_id,
            name,
            tier,
            int(calls),
            todays.get(tenant_id, 0),
            get_tier_limits(tier, overrides).api_calls_per_day,
        )
        for tenant_id, name, tier, overrides, calls in rows
    ]


def _today_calls(session: Session, tenant_ids: list[int], today: date) -> dict[int, int]:
    if not tenant_ids:
        return {}
    rows = session.execute(
        sa.select(UsageCounter.tenant_id, UsageCounter.value).where(
            UsageCounter.tenant_id.in_(tenant_ids),
            UsageCounter.metric == CALLS,
            UsageCounter.day == today,
        )
    )
    return {tenant_id: int(value) for tenant_id, value in rows}


@dataclass(frozen=True)
class NearLimit:
    tenant_id: int
    name: str
    tier: str
    limit: str
    used: int
    allowed: int

    @property
    def percent(self) -> int:
        return self.used * 100 // self.allowed if self.allowed else 0


def near_limits(session: Session, today: date) -> list[NearLimit]:
    """Tenants at 80 % or more of today's call limit, their memories or their storage."""
    tenants = {
        tenant_id: (name, tier, get_tier_limits(tier, overrides))
        for tenant_id, name, tier, overrides in session.execute(
            sa.select(Tenant.id, Tenant.name, Tenant.tier, Tenant.limit_overrides)
        )
    }
    found: list[NearLimit] = []

    def check(tenant_id: int, limit: str, used: int, allowed: int) -> None:
        if allowed and used * 100 >= allowed * NEAR_LIMIT_PERCENT:
            name, tier, _ = tenants[tenant_id]
            found.append(NearLimit(tenant_id, name, tier, limit, used, allowed))

    floor = min((limits.api_calls_per_day for _, _, limits in tenants.values()), default=0)
    for tenant_id, value in session.execute(
        sa.select(UsageCounter.tenant_id, UsageCounter.value).where(
            UsageCounter.metric == CALLS,
            UsageCounter.day == today,
            UsageCounter.value * 100 >= floor * NEAR_LIMIT_PERCENT,
        )
    ):
        if tenant_id in tenants:
            check(tenant_id, "API calls today", int(value), tenants[tenant_id][2].api_calls_per_day)
    for row in session.scalars(sa.select(StorageUsage)):
        if row.tenant_id in tenants:
            limits = tenants[row.tenant_id][2]
            check(row.tenant_id, "Memories", int(row.memories), limits.memories)
            check(
                row.tenant_id,
                "Storage (MB)",
                int(row.bytes_used) // BYTES_PER_MB,
                limits.storage_mb,
            )
    return sorted(found, key=lambda n: (-n.percent, n.tenant_id))


def daily_calls(
    session: Session, tenant_id: int, first: date, last: date
) -> list[tuple[date, int]]:
    """One tenant's calls per day from ``first`` to ``last``, zero days included."""
    rows = dict(
        session.execute(
            sa.select(UsageCounter.day, UsageCounter.value).where(
                UsageCounter.tenant_id == tenant_id,
                UsageCounter.metric == CALLS,
                UsageCounter.day >= first,
                UsageCounter.day <= last,
            )
        ).all()
    )
    days = (last - first).days + 1
    return [
        (first + timedelta(days=i), int(rows.get(first + timedelta(days=i), 0)))
        for i in range(days)
    ]


def metric_totals(session: Session, tenant_id: int, first: date, last: date) -> dict[str, int]:
    """One tenant's total per metric from ``first`` to ``last``."""
    totals: dict[str, int] = defaultdict(int)
    for metric, value in session.execute(
        sa.select(UsageCounter.metric, sa.func.sum(UsageCounter.value))
        .where(
            UsageCounter.tenant_id == tenant_id,
            UsageCounter.day >= first,
            UsageCounter.day <= last,
        )
        .group_by(UsageCounter.metric)
        .order_by(UsageCounter.metric)
    ):
        totals[metric] = int(value)
    return dict(totals)


@dataclass(frozen=True)
class EndpointOutcomes:
    route: str
    #: Calls per outcome (``lifecycle.OUTCOMES``), every tenant together.
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def endpoint_outcomes(
    session: Session, first: date, last: date, limit: int = 50
) -> list[EndpointOutcomes]:
    """Every tenant's calls per endpoint and outcome from ``first`` to ``last`` (UTC days, as
    flushed), the busiest ``limit`` endpoints first. The counting rules are those of
    ``portal.enforcement.lifecycle.endpoint_outcomes`` (one tenant, pending counts too):
    ``succeeded`` is the endpoint's admitted calls minus its client errors."""
    admitted_prefix = f"{CALLS}:"
    rows = session.execute(
        sa.select(UsageCounter.metric, sa.func.sum(UsageCounter.value))
        .where(
            sa.or_(
                UsageCounter.metric.startswith(OUTCOME_PREFIX, autoescape=True),
                UsageCounter.metric.startswith(admitted_prefix, autoescape=True),
            ),
            UsageCounter.day >= first,
            UsageCounter.day <= last,
        )
        .group_by(UsageCounter.metric)
    )
    found: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for metric, value in rows:
        if metric.startswith(admitted_prefix):
            found[metric[len(admitted_prefix) :]][SUCCEEDED] += int(value)
            continue
        kind, _, route = metric[len(OUTCOME_PREFIX) :].partition(":")
        if kind in OUTCOMES and kind != SUCCEEDED and route:
            found[route][kind] += int(value)
    outcomes = []
    for route, counts in found.items():
        counts[SUCCEEDED] = max(0, counts[SUCCEEDED] - counts[CLIENT_ERROR])
        outcomes.append(EndpointOutcomes(route, counts))
    outcomes.sort(key=lambda o: (-o.total, o.route))
    return outcomes[:limit]
