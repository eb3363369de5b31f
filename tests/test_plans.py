"""The plan catalog matches the product spec, and its lookups refuse what it doesn't know."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.plans import (
    PLANS,
    YEARLY_SAVING_PERCENT,
    Feature,
    PricingTier,
    UnknownTier,
    check_feature_access,
    get_interval_from_price_id,
    get_stripe_price_id,
    get_tier_from_price_id,
    get_tier_limits,
)

SPEC = {
    # tier: (calls/day, calls/minute, memories, storage MB, concurrent)
    "free": (100, 10, 1_000, 100, 2),
    "pro": (10_000, 100, 100_000, 10_000, 10),
    "enterprise": (1_000_000, 1_000, 10_000_000, 1_000_000, 100),
}


@pytest.mark.parametrize("tier", SPEC)
def test_limits_match_the_spec(tier: str) -> None:
    limits = get_tier_limits(tier)
    assert (
        limits.api_calls_per_day,
        limits.api_calls_per_minute,
        limits.memories,
        limits.storage_mb,
        limits.concurrent_requests,
    ) == SPEC[tier]


def test_storage_is_decimal_megabytes() -> None:
    assert get_tier_limits("pro").storage_bytes == 10_000 * 1_000_000
    assert get_tier_limits("enterprise").storage_bytes == 10**12  # 1 TB


@pytest.mark.parametrize(
    ("tier", "feature", "allowed"),
    [
        ("free", "semantic_search", True),
        ("free", "federation", False),
        ("free", "realtime_sync", False),
        ("pro", "federation", True),
        ("pro", "realtime_sync", True),
        ("enterprise", "federation", True),
        ("enterprise", "no_such_feature", False),
    ],
)
def test_feature_access(tier: str, feature: str, allowed: bool) -> None:
    ok, message = check_feature_access(tier, feature)
    assert ok is allowed
    if not allowed:
        assert message == f"Feature '{feature}' not available on {tier} tier"


def test_federation_priority_by_tier() -> None:
    assert get_tier_limits("free").federation_priority is None
    assert get_tier_limits("pro").federation_priority == "normal"
    assert get_tier_limits("enterprise").federation_priority == "critical"
    assert get_tier_limits("enterprise").features == frozenset(Feature)


def test_prices_and_yearly_saving() -> None:
    assert PLANS[PricingTier.PRO].monthly_price == Decimal("29.00")
    assert PLANS[PricingTier.PRO].yearly_price == Decimal("278.40")
    assert YEARLY_SAVING_PERCENT == 20
    assert PLANS[PricingTier.ENTERPRISE].monthly_price is None
    assert not PLANS[PricingTier.ENTERPRISE].self_serve


def test_lookup_keys_round_trip() -> None:
    assert get_stripe_price_id("pro", "month") == "continuum_pro_monthly"
    assert get_stripe_price_id(PricingTier.PRO, "year") == "continuum_pro_yearly"
    assert get_tier_from_price_id("continuum_pro_yearly") is PricingTier.PRO
    assert get_interval_from_price_id("continuum_pro_monthly") == "month"


@pytest.mark.parametrize(
    ("tier", "interval"),
    [("free", "month"), ("enterprise", "year"), ("pro", "week"), ("gold", "month")],
)
def test_no_self_serve_price(tier: str, interval: str) -> None:
    with pytest.raises(UnknownTier):
        get_stripe_price_id(tier, interval)


@pytest.mark.parametrize("lookup_key", [None, "", "price_123", "continuum_gold_monthly"])
def test_unknown_price_is_refused(lookup_key: str | None) -> None:
    with pytest.raises(UnknownTier):
        get_tier_from_price_id(lookup_key)


def test_enterprise_overrides_apply_only_to_numeric_limits() -> None:
    limits = get_tier_limits(
        "enterprise", {"api_calls_per_day": 5_000_000, "features": ["x"], "tier": "free"}
    )
    assert limits.api_calls_per_day == 5_000_000
    assert limits.api_calls_per_minute == 1_000
    assert limits.features == frozenset(Feature)


def test_unknown_tier_is_refused() -> None:
    with pytest.raises(UnknownTier, match="Unknown plan"):
        get_tier_limits("platinum")
