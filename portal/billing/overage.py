"""Pro overage: the tenant's opt-in and monthly spend cap, and what the period has cost so far.

The settings live on the tenant row (the enforcement directory re-reads it on commit); the
period's calls are the meter_report outbox's rows plus what the counter store has not flushed.
The Stripe side (the metered subscription item) is in ``portal.billing.metered``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.billing.subscriptions import current_subscription, lock_tenant
from portal.enforcement.overage import OVERAGE_CALLS
from portal.enforcement.overage import usage_period as enforcement_usage_period
from portal.errors import PortalError
from portal.extensions import db
from portal.models import MeterDayTotal, Subscription, Tenant, utcnow
from portal.plans import (
    OVERAGE_CAP_MAX_CENTS,
    OVERAGE_CAP_MIN_CENTS,
    PricingTier,
    overage_calls_for_cents,
    overage_cost_cents,
)

log = logging.getLogger("continuum.billing")

#: The ``usage_counter`` metric the enforcement flush writes overage calls under, per UTC day.
#: How far back the projection looks for the pace of overage calls.
PACE_WINDOW = timedelta(days=7)
_DAY = 86_400


class InvalidOverageSetting(PortalError):
    """A setting that cannot be applied; ``field`` names the input at fault."""

    status_code = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class OverageNotAvailable(PortalError):
    """The plan has no self-serve overage: Free must upgrade, Enterprise has it by contract."""

    status_code = 403


@dataclass(frozen=True)
class OverageSettings:
    enabled: bool
    monthly_cap_cents: int


@dataclass(frozen=True)
class OverageSummary:
    """The current usage period's overage, as the dashboard and the JSON API show it."""

    enabled: bool
    cap_cents: int
    period_start: datetime
    period_end: datetime
    calls: int
    cost_cents: Decimal
    projected_cents: Decimal
    cap_calls: int

    @property
    def cap_fraction(self) -> float:
        """How much of the cap is spent, from 0 to 1."""
        return min(1.0, self.calls / self.cap_calls) if self.cap_calls else 0.0

    @property
    def cap_reached(self) -> bool:
        return self.calls >= self.cap_calls


_CAP_MESSAGE = (
    f"monthly_cap_cents must be a whole number of cents from {OVERAGE_CAP_MIN_CENTS} "
    f"(${OVERAGE_CAP_MIN_CENTS // 100:,}) to {OVERAGE_CAP_MAX_CENTS} "
    f"(${OVERAGE_CAP_MAX_CENTS // 100:,})"
)


def parse_settings(data: Mapping[str, object], current: OverageSettings) -> OverageSettings:
    """The settings ``data`` asks for, over ``current`` for what it leaves out.

    Only JSON's own types are accepted: ``true``/``false`` for ``enabled`` and an integer for
    ``monthly_cap_cents`` (a float, a string or a boolean is refused, never coerced).
    """
    unknown = sorted(str(name) for name in data if name not in ("enabled", "monthly_cap_cents"))
    if unknown:
        raise InvalidOverageSetting(
            unknown[0],
            f"{unknown[0][:40]} is not an overage setting (use enabled, monthly_cap_cents)",
        )
    enabled = data.get("enabled", current.enabled)
    if not isinstance(enabled, bool):
        raise InvalidOverageSetting("enabled", "enabled must be true or false")
    cap = data.get("monthly_cap_cents", current.monthly_cap_cents)
    if isinstance(cap, bool) or not isinstance(cap, int):
        raise InvalidOverageSetting("monthly_cap_cents", _CAP_MESSAGE)
    if not OVERAGE_CAP_MIN_CENTS <= cap <= OVERAGE_CAP_MAX_CENTS:
        raise InvalidOverageSetting("monthly_cap_cents", _CAP_MESSAGE)
    return OverageSettings(enabled=enabled, monthly_cap_cents=cap)


def current_settings(tenant: Tenant) -> OverageSettings:
    return OverageSettings(
        enabled=bool(tenant.overage_enabled), monthly_cap_cents=tenant.overage_cap_cents
    )


def is_available(tenant: Tenant) -> bool:
    """Whether the tenant can turn overage on (Pro only)."""
    return tenant.tier == PricingTier.PRO.value


def check_available(tenant: Tenant) -> None:
    """Raise ``OverageNotAvailable`` unless the tenant is on Pro, saying what to do instead."""
    if tenant.tier == PricingTier.ENTERPRISE.value:
        raise OverageNotAvailable(
            "Overage on Enterprise is set by your contract. Talk to your account manager to "
            "change it."
        )
    if tenant.tier != PricingTier.PRO.value:
        raise OverageNotAvailable(
            "Overage is available on Pro. Upgrade to Pro to go past the daily quota."
        )


def update_settings(tenant: Tenant, settings: OverageSettings) -> OverageSettings:
    """Apply ``settings`` to a Pro tenant and commit; turning overage on makes sure the Stripe
    subscription has the metered item first, so a call billed as overage always has a price."""
    from portal.billing.metered import ensure_metered_item

    check_available(tenant)
    if settings.enabled:
        ensure_metered_item(tenant)
    lock_tenant(tenant)
    db.session.refresh(tenant)
    check_available(tenant)
    before = current_settings(tenant)
    tenant.overage_enabled = settings.enabled
    tenant.overage_cap_cents = settings.monthly_cap_cents
    db.session.commit()
    if before != settings:
        log.info(
            "tenant %s: overage %s, cap %s cents (was %s, %s)",
            tenant.id,
            "on" if settings.enabled else "off",
            settings.monthly_cap_cents,
            "on" if before.enabled else "off",
            before.monthly_cap_cents,
        )
    return settings


# --- the period's overage --------------------------------------------------------------------


def usage_period(sub: Subscription | None, now: datetime) -> tuple[datetime, datetime]:
    """The overage cap's period: the metered item's, else the subscription's, rolled forward by
    months once it has ended (a late renewal webhook), else the UTC month. The same rule the
    enforcement library admits by, so the card, the alerts and the 429 agree."""
    start = end = None
    if sub is not None:
        mirror_start = sub.usage_period_start or sub.current_period_start
        mirror_end = sub.usage_period_end or sub.current_period_end
        start = int(mirror_start.timestamp()) if mirror_start is not None else None
        end = int(mirror_end.timestamp()) if mirror_end is not None else None
    first, last = enforcement_usage_period(start, end, now.timestamp())
    return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)


def unflushed_calls(tenant_id: int, first: datetime, now: datetime) -> int:
    """Overage calls counted by this process's enforcement store but not yet in SQL."""
    from portal.enforcement import current_enforcement

    try:
        store = current_enforcement().store
    except RuntimeError:  # no enforcement runtime in this app: nothing is pending here
        return 0
    days = range(int(first.timestamp()) // _DAY, int(now.timestamp()) // _DAY + 1)
    return store.pending_usage(tenant_id, OVERAGE_CALLS, days)


def period_summary(tenant: Tenant, now: datetime | None = None) -> OverageSummary:
    """The current period's overage calls, cost, projected cost at the period's end and cap."""
    now = now or utcnow()
    window = OverageWindow.of(current_subscription(tenant), now)
    calls, recent = db.session.execute(_OVERAGE_SUMS, window.params(tenant.id)).one()
    return window.summary(tenant, int(calls), int(recent))


@dataclass(frozen=True)
class OverageWindow:
    """The period an overage summary covers, and the start of its pace window."""

    start: datetime
    end: datetime
    #: The projection's pace is measured from here: the period's start, or the UTC midnight
    #: ``PACE_WINDOW`` ago if that is later (whole days: the totals are kept per day).
    window_start: datetime
    now: datetime

    @classmethod
    def of(cls, sub: Subscription | None, now: datetime) -> OverageWindow:
        start, end = usage_period(sub, now)
        days_back = int((now - PACE_WINDOW).timestamp()) // _DAY
        window_start = max(start, datetime.fromtimestamp(days_back * _DAY, UTC))
        return cls(start, end, window_start, now)

    def params(self, tenant_id: int) -> dict[str, int]:
        """The bound values of ``OVERAGE_SUM_COLUMNS`` for this window."""
        return {
            "tenant_id": tenant_id,
            "period_start": int(self.start.timestamp()),
            "first_day": int(self.window_start.timestamp()) // _DAY,
        }

    def summary(self, tenant: Tenant, stored_calls: int, stored_recent: int) -> OverageSummary:
        """The summary, from the stored sums (``sums``) and what this process has not flushed."""
        pending = unflushed_calls(tenant.id, self.start, self.now)
        calls = stored_calls + pending
        recent = stored_recent + pending
        cap_cents = tenant.overage_cap_cents
        cap_calls = overage_calls_for_cents(cap_cents)
        elapsed = (self.now - self.window_start).total_seconds()
        remaining = max(0.0, (self.end - self.now).total_seconds())
        projected_calls = calls + (int(recent * remaining / elapsed) if elapsed > 0 else 0)
        if tenant.overage_enabled:
            projected_calls = min(projected_calls, max(cap_calls, calls))
        return OverageSummary(
            enabled=bool(tenant.overage_enabled),
            cap_cents=cap_cents,
            period_start=self.start.astimezone(UTC),
            period_end=self.end.astimezone(UTC),
            calls=calls,
            cost_cents=overage_cost_cents(calls),
            projected_cents=overage_cost_cents(projected_calls),
            cap_calls=cap_calls,
        )


def _overage_sum(*where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.coalesce(sa.func.sum(MeterDayTotal.quantity), 0))
        .where(
            MeterDayTotal.tenant_id == sa.bindparam("tenant_id"),
            MeterDayTotal.period_start == sa.bindparam("period_start"),
            *where,
        )
        .scalar_subquery()
    )


#: The period's overage calls, all of them and those of the pace window, as two scalar
#: subqueries over ``meter_day_total`` (the outbox's running total per day: at most a period's
#: worth of rows), to select alone or next to other reads; ``OverageWindow.params`` binds them.
#: Built once: the dashboard's poll runs them.
OVERAGE_SUM_COLUMNS = (
    _overage_sum(),
    _overage_sum(MeterDayTotal.day >= sa.bindparam("first_day")),
)
_OVERAGE_SUMS = sa.select(*OVERAGE_SUM_COLUMNS)
