"""The spec's plain functions, for code that meters or checks without the decorators.

``tenant`` may be a ``Tenant`` row, the ``ApiCaller`` of a decorated view, or a tenant id.
They act on the runtime of the code running now (``current_enforcement``): inside a Flask app,
the one ``init_enforcement`` bound to it (the portal's ``create_app`` does this). Without the
database they raise ``DatabaseUnavailable`` (a 503 ``PortalError``), never a driver's error.
"""

from __future__ import annotations

from typing import Any, Protocol

from portal.enforcement.engine import (
    CONCURRENT,
    DAY,
    MINUTE,
    StorageSnapshot,
    day_window,
    decide_storage,
    rate_limit_message,
)
from portal.enforcement.metering import date_to_day, day_to_date
from portal.enforcement.outage import database_guarded
from portal.enforcement.overage import cap_message
from portal.enforcement.runtime import (
    API_CALLS,
    FEDERATION_CONTRIBUTIONS,
    OverageStatus,
    current_enforcement,
    endpoint_metric,
)
from portal.enforcement.storage import read_storage
from portal.plans import PricingTier, TierLimits, check_feature_access, get_tier_limits

__all__ = [
    "check_feature_access",
    "check_rate_limit",
    "check_storage_limit",
    "current_usage_snapshot",
    "get_storage_usage",
    "get_overage",
    "get_usage",
    "record_api_call",
    "record_federation_contribution",
    "record_storage_usage",
]

PERIODS = ("minute", "day", "month")


class HasId(Protocol):
    @property
    def id(self) -> int: ...


TenantLike = HasId | int


def _tenant_id(tenant: TenantLike) -> int:
    return tenant if isinstance(tenant, int) else tenant.id


def _limits(tenant: TenantLike, tier: str) -> TierLimits:
    """``tier``'s limits, with the tenant's enterprise overrides when ``tier`` is its own tier."""
    policy = current_enforcement().directory.policy(_tenant_id(tenant))
    if policy is not None and policy.tier == tier:
        return policy.limits
    overrides: Any = getattr(tenant, "limit_overrides", None)
    return get_tier_limits(tier, overrides)


@database_guarded
def record_api_call(tenant: TenantLike, endpoint: str | None = None, count: int = 1) -> None:
    """Meter ``count`` calls (``@metered`` already does this for the calls it admits)."""
    enforcement = current_enforcement()
    tenant_id = _tenant_id(tenant)
    enforcement.add_usage(tenant_id, API_CALLS, count)
    if endpoint:
        enforcement.add_usage(tenant_id, endpoint_metric(endpoint), count)


@database_guarded
def record_storage_usage(
    tenant: TenantLike, memories: int, embeddings: int, bytes_used: int, *, delta: bool = False
) -> StorageSnapshot:
    """Set what the tenant stores now; ``delta=True`` adds to it atomically instead."""
    counts = {"memories": memories, "embeddings": embeddings, "bytes_used": bytes_used}
    if not delta and min(counts.values()) < 0:
        raise ValueError("storage counts cannot be negative")
    return current_enforcement().storage.write(_tenant_id(tenant), counts, delta=delta)


@database_guarded
def record_federation_contribution(tenant: TenantLike, shared_memories: int) -> None:
    """Meter memories shared with the federation (metric ``federation_contributions``)."""
    if shared_memories < 0:
        raise ValueError("shared_memories cannot be negative")
    current_enforcement().add_usage(_tenant_id(tenant), FEDERATION_CONTRIBUTIONS, shared_memories)


@database_guarded
def get_usage(tenant: TenantLike, metric: str = API_CALLS, period: str = "day") -> int:
    """Usage of ``metric`` in the current UTC minute, day or month (flushed plus pending).

    The minute period exists for ``api_calls`` only: it is the rate limiter's own window.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    enforcement = current_enforcement()
    tenant_id = _tenant_id(tenant)
    if period == "minute":
        if metric != API_CALLS:
            raise ValueError("per-minute usage is kept for api_calls only")
        return enforcement.live_counts(tenant_id).minute
    today = day_window(enforcement.clock())
    first = today if period == "day" else date_to_day(day_to_date(today).replace(day=1))
    return enforcement.usage(tenant_id, metric, first, today)


@database_guarded
def get_overage(tenant: TenantLike) -> OverageStatus | None:
    """A Pro tenant's overage this period (calls billed so far, flushed plus pending, and the
    period and cap they count against), or None on any other tier."""
    return current_enforcement().overage_status(_tenant_id(tenant))


@database_guarded
def get_storage_usage(tenant: TenantLike) -> StorageSnapshot:
    return read_storage(current_enforcement().engine, _tenant_id(tenant))


@database_guarded
def check_rate_limit(tenant: TenantLike, tier: str) -> tuple[bool, str | None]:
    """``(allowed, error_message)``: would one more call fit now (past a Pro quota, as an
    overage call under the spend cap)? Counts nothing."""
    limits = _limits(tenant, tier)
    enforcement = current_enforcement()
    tenant_id = _tenant_id(tenant)
    counts = enforcement.live_counts(tenant_id)
    if counts.day >= limits.api_calls_per_day:
        overage = enforcement.overage_status(tenant_id) if tier == PricingTier.PRO else None
        if overage is None or not overage.enabled:
            return False, rate_limit_message(limits, DAY)
        if not overage.remaining:
            return False, cap_message(overage.window.cap_cents)
    if counts.minute >= limits.api_calls_per_minute:
        return False, rate_limit_message(limits, MINUTE)
    if counts.concurrent >= limits.concurrent_requests:
        return False, rate_limit_message(limits, CONCURRENT)
    return True, None


@database_guarded
def check_storage_limit(tenant: TenantLike, tier: str) -> tuple[bool, str | None]:
    """``(allowed, error_message)``: may the tenant store more?"""
    decision = decide_storage(tier, _limits(tenant, tier), get_storage_usage(tenant))
    return decision.allowed, decision.body["error"] if decision.body else None


@database_guarded
def current_usage_snapshot(tenant_id: int) -> dict[str, int]:
    """Live counts for the dashboard: calls this minute, today, and in flight right now."""
    counts = current_enforcement().live_counts(tenant_id)
    return {"minute": counts.minute, "day": counts.day, "concurrent": counts.concurrent}
