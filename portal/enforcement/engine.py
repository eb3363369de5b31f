"""The enforcement engine: per-request decisions, headers and error bodies.

Framework-free: it takes what a counter store answered plus the tenant's limits and returns a
``Decision`` that any web layer (the Flask decorators here, an ASGI adapter later) can render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from portal.enforcement.overage import OverageWindow, cap_message
from portal.plans import TierLimits, check_feature_access

MINUTE_SECONDS = 60
DAY_SECONDS = 86_400
UPGRADE_URL = "/billing/upgrade"
BILLING_URL = "/billing/"

#: Which limit refused a request (``Decision.limit``).
MINUTE, DAY, CONCURRENT = "minute", "day", "concurrent"
#: Past the daily quota with overage on, the period's overage calls reached the spend cap.
OVERAGE_CAP = "overage_cap"
STORAGE, MEMORIES, FEATURE = "storage", "memories", "feature"
AUTH, UNAVAILABLE = "auth", "unavailable"


def minute_window(now: float) -> int:
    """The fixed one-minute window ``now`` falls in (minutes since the epoch)."""
    return int(now) // MINUTE_SECONDS


def day_window(now: float) -> int:
    """The UTC day ``now`` falls in (days since the epoch)."""
    return int(now) // DAY_SECONDS


@dataclass(slots=True)  # not frozen: one is built per call, and frozen init costs 4x
class Admission:
    """A counter store's answer to "may this tenant start one more call now?".

    When ``refused`` is None the call was counted (minute, day, usage) and holds ``lease``;
    otherwise nothing was counted. ``generation`` is the tenant's cache generation, if known.
    ``overage_calls`` is the period's overage calls (this one included) when the call was past
    the daily quota with overage on, else -1; ``billed`` says the call was admitted as one.
    ``receipt`` is what the store needs to take the whole admission back (``refund``).
    """

    refused: str | None
    minute_count: int
    day_count: int
    in_flight: int
    lease: str | None = None
    generation: int = 0
    fallback: bool = False
    overage_calls: int = -1
    receipt: Any = None

    @property
    def billed(self) -> bool:
        """Admitted as an overage call (past the daily quota, under the spend cap)."""
        return self.refused is None and self.overage_calls >= 0


@dataclass(frozen=True, slots=True)
class StorageSnapshot:
    memories: int = 0
    embeddings: int = 0
    bytes_used: int = 0

    def as_body(self) -> dict[str, int]:
        return {"memories": self.memories, "embeddings": self.embeddings, "bytes": self.bytes_used}


@dataclass(slots=True)
class Decision:
    """Allowed or not, which limit decided, what remains, and what to send back."""

    allowed: bool
    status: int = 200
    limit: str | None = None
    remaining_minute: int | None = None
    remaining_day: int | None = None
    reset: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@lru_cache(maxsize=1024)
def _fixed_headers(tier: str, per_minute: int, per_day: int) -> dict[str, str]:
    """The headers that depend only on the tenant's limits (built once per limits; never
    change the dict returned)."""
    policy = f'"minute";q={per_minute};w={MINUTE_SECONDS}, "day";q={per_day};w={DAY_SECONDS}'
    return {
        "X-RateLimit-Limit-Day": str(per_day),
        "X-RateLimit-Limit-Minute": str(per_minute),
        "X-Tier": tier,
        "RateLimit-Policy": policy,
    }


def rate_limit_message(limits: TierLimits, limit: str) -> str:
    if limit == MINUTE:
        return f"Rate limit exceeded ({limits.api_calls_per_minute} calls/minute)"
    if limit == DAY:
        return f"Rate limit exceeded ({limits.api_calls_per_day} calls/day)"
    return f"Rate limit exceeded ({limits.concurrent_requests} concurrent requests)"


def decide_rate(
    tier: str,
    limits: TierLimits,
    admission: Admission,
    now: float,
    overage: OverageWindow | None = None,
) -> Decision:
    """Turn a store's admission into the response decision, headers included (``overage``: the
    tenant's overage period and cap, when overage is on)."""
    second = int(now)
    minute_reset = (second // MINUTE_SECONDS + 1) * MINUTE_SECONDS
    day_reset = (second // DAY_SECONDS + 1) * DAY_SECONDS
    per_minute, per_day = limits.api_calls_per_minute, limits.api_calls_per_day
    remaining_minute = max(0, per_minute - admission.minute_count)
    remaining_day = max(0, per_day - admission.day_count)
    refused = admission.refused
    # The draft says to report the window with the lower remaining value; a refusal names its
    # own (the spend cap's is the day's: the day's quota frees at its reset).
    if refused == MINUTE or (
        refused != DAY and refused != OVERAGE_CAP and remaining_minute < remaining_day
    ):
        name, remaining, reset = MINUTE, remaining_minute, minute_reset
    else:
        name, remaining, reset = DAY, remaining_day, day_reset
    headers = {
        **_fixed_headers(tier, per_minute, per_day),
        "X-RateLimit-Remaining-Day": str(remaining_day),
        "X-RateLimit-Remaining-Minute": str(remaining_minute),
        "X-RateLimit-Reset": str(reset),
        "RateLimit": f'"{name}";r={remaining};t={reset - second}',
    }
    if overage is not None and admission.overage_calls >= 0 and refused in (None, OVERAGE_CAP):
        _add_overage_headers(headers, overage, admission)
    decision = Decision(
        allowed=refused is None,
        limit=refused,
        remaining_minute=remaining_minute,
        remaining_day=remaining_day,
        reset=reset,
        headers=headers,
    )
    if refused is not None:
        decision.status = 429
        # A concurrent slot frees as soon as any call ends; a window frees at its reset.
        wait = 1 if refused == CONCURRENT else max(1, math.ceil(reset - now))
        headers["Retry-After"] = str(wait)
        if refused == OVERAGE_CAP and overage is not None:
            decision.body = {
                "error": cap_message(overage.cap_cents),
                "tier": tier,
                "upgrade_url": UPGRADE_URL,
                "billing_url": BILLING_URL,
            }
        else:
            decision.body = {
                "error": rate_limit_message(limits, refused),
                "tier": tier,
                "upgrade_url": UPGRADE_URL,
            }
    return decision


def _add_overage_headers(
    headers: dict[str, str], overage: OverageWindow, admission: Admission
) -> None:
    """One structured field (like ``RateLimit``): ``billed`` on a call billed as overage,
    ``capped`` on one refused at the cap, with the period's overage calls so far, the calls the
    cap still allows and when the period ends (epoch seconds). One field, not four: each header
    costs every call about 2 µs on its way out."""
    used = admission.overage_calls
    state = "billed" if admission.refused is None else "capped"
    remaining = overage.allowance - used if used < overage.allowance else 0
    headers["X-Overage"] = f"{state};used={used};remaining={remaining};reset={overage.period_end}"


def _crosses(current: int, adding: int, limit: int) -> bool:
    return current >= limit or current + adding > limit


def decide_storage(
    tier: str, limits: TierLimits, usage: StorageSnapshot, incoming: StorageSnapshot | None = None
) -> Decision:
    """Whether a write may add to storage: refused once memories or bytes are at the limit, or
    when what the write adds (``incoming``, if known) would take them past it."""
    adding = incoming or StorageSnapshot()
    if _crosses(usage.bytes_used, adding.bytes_used, limits.storage_bytes):
        message = f"Storage limit exceeded ({limits.storage_mb} MB)"
        limit = STORAGE
    elif _crosses(usage.memories, adding.memories, limits.memories):
        message = f"Storage limit exceeded ({limits.memories} memories)"
        limit = MEMORIES
    else:
        return Decision(allowed=True)
    return Decision(
        allowed=False,
        status=507,
        limit=limit,
        body={
            "error": message,
            "current_usage": usage.as_body(),
            "tier": tier,
            "upgrade_url": UPGRADE_URL,
        },
    )


def decide_feature(tier: str, feature: str) -> Decision:
    allowed, message = check_feature_access(tier, feature)
    if allowed:
        return Decision(allowed=True)
    return Decision(
        allowed=False,
        status=403,
        limit=FEATURE,
        body={
            "error": message,
            "feature": feature,
            "current_tier": tier,
            "upgrade_url": UPGRADE_URL,
        },
    )


def unauthorized(message: str) -> Decision:
    return Decision(
        allowed=False,
        status=401,
        limit=AUTH,
        headers={"WWW-Authenticate": 'Bearer realm="continuum"'},
        body={"error": message},
    )


def unavailable(message: str, retry_after: int = 1) -> Decision:
    return Decision(
        allowed=False,
        status=503,
        limit=UNAVAILABLE,
        headers={"Retry-After": str(retry_after)},
        body={"error": message},
    )
