"""The plan catalog: every tier's price, limits and features, in one place.

Templates, the enforcement engine and the billing code all read limits from here;
nothing else in the code base may hold a copy of a number from the product spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any


class PricingTier(StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Feature(StrEnum):
    SEMANTIC_SEARCH = "semantic_search"
    FEDERATION = "federation"
    REALTIME_SYNC = "realtime_sync"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class BillingInterval(StrEnum):
    MONTH = "month"
    YEAR = "year"


#: Storage is counted in decimal units, as the spec's "Storage limit exceeded (10000 MB)" shows.
BYTES_PER_MB = 1_000_000


@dataclass(frozen=True)
class TierLimits:
    """What one tier allows. ``storage_mb`` is decimal megabytes."""

    api_calls_per_day: int
    api_calls_per_minute: int
    memories: int
    storage_mb: int
    concurrent_requests: int
    features: frozenset[Feature] = field(default_factory=frozenset)
    federation_priority: str | None = None

    @property
    def storage_bytes(self) -> int:
        return self.storage_mb * BYTES_PER_MB

    def has_feature(self, feature: str) -> bool:
        return feature in self.features

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> TierLimits:
        """These limits with an enterprise contract's numeric overrides applied.

        Only the five numeric limits can be overridden; features and federation priority
        come from the tier, and any other key in ``overrides`` is ignored.
        """
        if not overrides:
            return self

        def limit(name: str, current: int) -> int:
            return int(overrides[name]) if name in overrides else current

        return replace(
            self,
            api_calls_per_day=limit("api_calls_per_day", self.api_calls_per_day),
            api_calls_per_minute=limit("api_calls_per_minute", self.api_calls_per_minute),
            memories=limit("memories", self.memories),
            storage_mb=limit("storage_mb", self.storage_mb),
            concurrent_requests=limit("concurrent_requests", self.concurrent_requests),
        )


@dataclass(frozen=True)
class Plan:
    """A tier as it is sold: its limits, prices and the words on the plans page."""

    tier: PricingTier
    limits: TierLimits
    monthly_price: Decimal | None  # None: custom contract, sales-led
    yearly_price: Decimal | None
    support: str
    uptime_sla: str | None
    overage: str
    self_serve: bool

    def price(self, interval: str | None) -> Decimal | None:
        """What one billing ``interval`` costs (yearly, else monthly); None for a contract."""
        return self.yearly_price if interval == BillingInterval.YEAR else self.monthly_price


TIER_LIMITS: dict[PricingTier, TierLimits] = {
    PricingTier.FREE: TierLimits(
        api_calls_per_day=100,
        api_calls_per_minute=10,
        memories=1_000,
        storage_mb=100,
        concurrent_requests=2,
        features=frozenset({Feature.SEMANTIC_SEARCH}),
    ),
    PricingTier.PRO: TierLimits(
        api_calls_per_day=10_000,
        api_calls_per_minute=100,
        memories=100_000,
        storage_mb=10_000,
        concurrent_requests=10,
        features=frozenset({Feature.SEMANTIC_SEARCH, Feature.FEDERATION, Feature.REALTIME_SYNC}),
        federation_priority="normal",
    ),
    PricingTier.ENTERPRISE: TierLimits(
        api_calls_per_day=1_000_000,
        api_calls_per_minute=1_000,
        memories=10_000_000,
        storage_mb=1_000_000,
        concurrent_requests=100,
        features=frozenset(Feature),
        federation_priority="critical",
    ),
}

PLANS: dict[PricingTier, Plan] = {
    PricingTier.FREE: Plan(
        tier=PricingTier.FREE,
        limits=TIER_LIMITS[PricingTier.FREE],
        monthly_price=Decimal("0"),
        yearly_price=Decimal("0"),
        support="Community support",
        uptime_sla=None,
        overage="None: calls over the quota are refused",
        self_serve=True,
    ),
    PricingTier.PRO: Plan(
        tier=PricingTier.PRO,
        limits=TIER_LIMITS[PricingTier.PRO],
        monthly_price=Decimal("29.00"),
        yearly_price=Decimal("278.40"),
        support="Email support, 24 h response SLA",
        uptime_sla="99%",
        overage=(
            "Optional: $0.10 per 1,000 API calls over the daily quota, up to a monthly cap you set"
        ),
        self_serve=True,
    ),
    PricingTier.ENTERPRISE: Plan(
        tier=PricingTier.ENTERPRISE,
        limits=TIER_LIMITS[PricingTier.ENTERPRISE],
        monthly_price=None,
        yearly_price=None,
        support="Priority support, 1 h response SLA, dedicated contact",
        uptime_sla="99.9%",
        overage="By contract",
        self_serve=False,
    ),
}

#: Stripe price lookup keys for the self-serve paid prices. Price ids are never hard-coded.
PRICE_LOOKUP_KEYS: dict[tuple[PricingTier, BillingInterval], str] = {
    (PricingTier.PRO, BillingInterval.MONTH): "continuum_pro_monthly",
    (PricingTier.PRO, BillingInterval.YEAR): "continuum_pro_yearly",
}

#: The metered price that bills Pro overage (on the Billing Meter below), by lookup key.
OVERAGE_PRICE_LOOKUP_KEY = "continuum_pro_api_calls"
#: The Billing Meter's event name; its events carry ``stripe_customer_id`` and ``value``.
OVERAGE_METER_EVENT_NAME = "continuum_api_calls_overage"
#: Overage price: $0.10 per 1,000 calls, billed pro rata (one call costs 0.01 cent).
OVERAGE_CENTS_PER_1000_CALLS = 10
OVERAGE_UNIT_AMOUNT_DECIMAL = "0.01"  # cents per call, Stripe's ``unit_amount_decimal``
#: The monthly spend cap a customer may set, in cents ($1 to $10,000; $20 unless they choose).
OVERAGE_CAP_MIN_CENTS = 100
OVERAGE_CAP_MAX_CENTS = 1_000_000
OVERAGE_CAP_DEFAULT_CENTS = 2_000


def overage_calls_for_cents(cents: int) -> int:
    """How many overage calls ``cents`` buys (the cap as a call count): 1 cent = 100 calls."""
    return cents * 1000 // OVERAGE_CENTS_PER_1000_CALLS


def overage_cost_cents(calls: int) -> Decimal:
    """What ``calls`` overage calls cost, in cents, pro rata (2,500 calls = 25 cents)."""
    return Decimal(calls) * OVERAGE_CENTS_PER_1000_CALLS / 1000


_TIER_BY_LOOKUP_KEY = {key: tier for (tier, _), key in PRICE_LOOKUP_KEYS.items()}
_INTERVAL_BY_LOOKUP_KEY = {key: interval for (_, interval), key in PRICE_LOOKUP_KEYS.items()}

#: The yearly discount the plans page advertises, derived from the prices themselves.
YEARLY_SAVING_PERCENT = int(
    100 - PLANS[PricingTier.PRO].yearly_price * 100 / (PLANS[PricingTier.PRO].monthly_price * 12)  # type: ignore[operator]
)


class UnknownTier(ValueError):
    """Raised for a tier name or price that is not in the catalog."""


def parse_tier(value: str | PricingTier) -> PricingTier:
    try:
        return PricingTier(value)
    except ValueError:
        raise UnknownTier(f"Unknown plan {value!r}: choose free, pro or enterprise.") from None


def get_tier_limits(
    tier: str | PricingTier, overrides: Mapping[str, Any] | None = None
) -> TierLimits:
    """The limits of ``tier``, with an enterprise contract's ``overrides`` applied if given."""
    limits = TIER_LIMITS[parse_tier(tier)]
    return limits.with_overrides(overrides) if overrides else limits


def get_stripe_price_id(tier: str | PricingTier, interval: str | BillingInterval) -> str:
    """The Stripe price *lookup key* for a self-serve tier and interval.

    Prices are resolved by lookup key at Stripe, so this is what the gateway asks for.
    """
    try:
        return PRICE_LOOKUP_KEYS[(parse_tier(tier), BillingInterval(interval))]
    except (KeyError, ValueError):
        raise UnknownTier(
            f"There is no self-serve price for {tier} billed per {interval}."
        ) from None


def get_tier_from_price_id(lookup_key: str | None) -> PricingTier:
    """The tier a Stripe price (identified by its lookup key) buys. Unknown prices raise."""
    try:
        return _TIER_BY_LOOKUP_KEY[lookup_key or ""]
    except KeyError:
        raise UnknownTier(f"Price {lookup_key!r} is not one of CONTINUUM's prices.") from None


def get_interval_from_price_id(lookup_key: str | None) -> BillingInterval:
    try:
        return _INTERVAL_BY_LOOKUP_KEY[lookup_key or ""]
    except KeyError:
        raise UnknownTier(f"Price {lookup_key!r} is not one of CONTINUUM's prices.") from None


def check_feature_access(tier: str | PricingTier, feature: str) -> tuple[bool, str | None]:
    """``(allowed, error_message)`` for using ``feature`` on ``tier``."""
    tier = parse_tier(tier)
    if TIER_LIMITS[tier].has_feature(feature):
        return True, None
    return False, f"Feature '{feature}' not available on {tier.value} tier"
