"""What the plans and billing pages show, in the shapes the templates want.

The tenant's subscription is read from the local mirror (never from Stripe on page views),
so the plan, its state and its dates render even while Stripe is unreachable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from portal.billing.subscriptions import current_subscription, ended, past_due, past_due_grace_ends
from portal.models import Subscription, Tenant
from portal.plans import (
    PLANS,
    BillingInterval,
    Feature,
    Plan,
    PricingTier,
)
from portal.web.formatting import format_date


class PlanState(StrEnum):
    """The tenant's situation, one word per paragraph the billing page can show."""

    FREE = "free"
    TRIALING = "trialing"
    ACTIVE = "active"
    CANCELING = "canceling"
    PAST_DUE = "past_due"
    INCOMPLETE = "incomplete"
    ENDED = "ended"
    CONTRACT = "contract"


@dataclass(frozen=True)
class SubscriptionView:
    """One tenant's plan and subscription, with the dates a person needs."""

    tenant: Tenant
    plan: Plan
    state: PlanState
    subscription: Subscription | None
    grace_ends: datetime | None

    @property
    def interval(self) -> BillingInterval | None:
        sub = self.subscription
        return BillingInterval(sub.interval) if sub and sub.interval in ("month", "year") else None

    @property
    def other_interval(self) -> BillingInterval | None:
        if self.interval is None:
            return None
        yearly = self.interval == BillingInterval.YEAR
        return BillingInterval.MONTH if yearly else BillingInterval.YEAR

    @property
    def price(self) -> Decimal | None:
        """What the current interval costs, from the catalog."""
        return self.plan.price(self.interval) if self.interval else None

    @property
    def can_change_interval(self) -> bool:
        return self.state in (PlanState.ACTIVE, PlanState.TRIALING)

    @property
    def can_cancel(self) -> bool:
        return self.state in (PlanState.ACTIVE, PlanState.TRIALING, PlanState.PAST_DUE)

    @property
    def can_resume(self) -> bool:
        return self.state == PlanState.CANCELING

    @property
    def has_paid_subscription(self) -> bool:
        """A subscription that will still charge a card (so the last card must stay)."""
        return self.subscription is not None and not ended(self.subscription)


def describe_subscription(tenant: Tenant) -> SubscriptionView:
    """Classify the tenant's plan and subscription into one :class:`PlanState`."""
    sub = current_subscription(tenant)
    plan = PLANS[tenant.pricing_tier]
    if tenant.pricing_tier == PricingTier.ENTERPRISE:
        return SubscriptionView(tenant, plan, PlanState.CONTRACT, sub, None)
    if sub is None:
        return SubscriptionView(tenant, plan, PlanState.FREE, None, None)
    if ended(sub):
        return SubscriptionView(tenant, plan, PlanState.ENDED, sub, None)
    if past_due(sub):
        state = PlanState.PAST_DUE
    elif sub.status == "incomplete":
        state = PlanState.INCOMPLETE
    elif sub.cancel_at_period_end:
        state = PlanState.CANCELING
    elif sub.status == "trialing":
        state = PlanState.TRIALING
    else:
        state = PlanState.ACTIVE
    return SubscriptionView(tenant, PLANS[_tier_of(sub)], state, sub, past_due_grace_ends(sub))


def _tier_of(sub: Subscription) -> PricingTier:
    try:
        return PricingTier(sub.tier)
    except ValueError:
        return PricingTier.FREE


def past_due_view(tenant: Tenant) -> SubscriptionView | None:
    """The tenant's subscription if its last payment failed, for the banner on every page."""
    view = describe_subscription(tenant)
    return view if view.state == PlanState.PAST_DUE else None


@dataclass(frozen=True)
class PlanCard:
    """One column of the plans page."""

    plan: Plan
    is_current: bool
    features: list[tuple[str, bool]]
    #: The plan this visitor would move to (Free -> Pro -> Enterprise); phones show it first.
    is_next: bool = False

    @property
    def tier(self) -> PricingTier:
        return self.plan.tier

    @property
    def yearly_per_month(self) -> Decimal | None:
        """The yearly price spread over twelve months, e.g. $23.20."""
        yearly = self.plan.yearly_price
        return (yearly / 12).quantize(Decimal("0.01")) if yearly else None


def plan_cards(current: PricingTier | None) -> list[PlanCard]:
    """Free, Pro and Enterprise, each with its feature checklist read from the catalog."""
    upgrade = {
        None: PricingTier.PRO,
        PricingTier.FREE: PricingTier.PRO,
        PricingTier.PRO: PricingTier.ENTERPRISE,
    }.get(current)
    return [
        PlanCard(
            plan=plan,
            is_current=plan.tier == current,
            features=_features(plan),
            is_next=plan.tier == upgrade,
        )
        for plan in PLANS.values()
    ]


def _features(plan: Plan) -> list[tuple[str, bool]]:
    limits = plan.limits
    features = []
    for feature in Feature:
        label = feature.label
        if feature == Feature.FEDERATION and limits.federation_priority:
            label = f"{label} ({limits.federation_priority} priority)"
        features.append((label, limits.has_feature(feature)))
    return features


#: Invoice statuses in words, with the badge tone the page gives them.
INVOICE_STATUSES = {
    "draft": ("Draft", "muted"),
    "open": ("Due", "warn"),
    "paid": ("Paid", "ok"),
    "uncollectible": ("Uncollectible", "danger"),
    "void": ("Void", "muted"),
}


def invoice_status(status: str | None) -> tuple[str, str]:
    """``(label, tone)`` for an invoice status, e.g. ``("Paid", "ok")``."""
    return INVOICE_STATUSES.get(status or "", ((status or "unknown").capitalize(), "muted"))


_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def line_description(text: str | None, amount: int) -> str:
    """An invoice line as a person reads it: Stripe's "after 2026-11-28" becomes "after
    28 Nov 2026"; a line without words is named by its sign."""
    if not text:
        return "Credit for unused time" if amount < 0 else "Plan change"

    def words(match: re.Match[str]) -> str:
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return match[0]
        return format_date(day)

    return _ISO_DAY.sub(words, text)
