"""The words of the usage alert emails: plain text with the numbers, the portal link, and how
to switch the alert off. ``portal.billing.alerts`` decides when they are sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from portal.config import portal_url
from portal.plans import OVERAGE_CENTS_PER_1000_CALLS, PLANS, PricingTier
from portal.web.formatting import format_date, format_money

if TYPE_CHECKING:
    from portal.billing.overage import OverageSummary

#: The billing page's overage and alerts section, where every alert is switched on or off.
SETTINGS_ANCHOR = "/billing/#overage"
RATE = f"{format_money(OVERAGE_CENTS_PER_1000_CALLS)} per 1,000 calls"


@dataclass(frozen=True)
class AlertMail:
    subject: str
    body: str


def whole_cents(cents: Decimal | int) -> int:
    """An amount of (possibly fractional) cents, rounded to the cent as an invoice shows it."""
    return int(Decimal(cents).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _until(now: datetime, moment: datetime) -> str:
    """``9 h 55 min`` from ``now`` to ``moment``."""
    minutes = max(int((moment - now).total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _footer(label: str) -> str:
    return (
        f"You get this email because the alert at {label} is on. To switch it off, untick it "
        f'under "Email alerts" on the billing page:\n{portal_url(SETTINGS_ANCHOR)}\n\n'
        "The CONTINUUM team\n"
    )


def daily_quota(
    percent: int,
    label: str,
    *,
    tenant_name: str,
    tier: PricingTier,
    calls: int,
    quota: int,
    now: datetime,
    overage_cap_cents: int | None,
) -> AlertMail:
    """The mail at ``percent`` of the daily call quota. ``overage_cap_cents``: Pro with overage
    on (calls past the quota are billed rather than refused)."""
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
    reset = f"The quota resets at 00:00 UTC, in {_until(now, midnight)}."
    if percent < 100:
        next_step = "Calls past the quota are "
        next_step += (
            f"billed as overage at {RATE}, up to your monthly spend cap of "
            f"{format_money(overage_cap_cents)}."
            if overage_cap_cents is not None
            else "refused with HTTP 429 until then."
        )
    elif overage_cap_cents is not None:
        next_step = (
            f"From now on today's calls are billed as overage at {RATE}, up to your monthly "
            f"spend cap of {format_money(overage_cap_cents)}."
        )
    else:
        next_step = "Further calls today are refused with HTTP 429."
    if overage_cap_cents is not None:
        more = ""
    elif tier == PricingTier.PRO:
        more = (
            "\n\nTo keep serving calls past the quota, turn on overage with a spend cap you "
            f"choose:\n{portal_url(SETTINGS_ANCHOR)}"
        )
    elif tier == PricingTier.FREE:
        pro = PLANS[PricingTier.PRO]
        more = (
            f"\n\nPro allows {pro.limits.api_calls_per_day:,} calls a day from "
            f"{format_money(int(pro.monthly_price * 100))} a month:\n"  # type: ignore[operator]
            f"{portal_url('/billing/upgrade')}"
        )
    else:
        more = ""
    body = (
        f"Hello,\n\n{tenant_name} has made {calls:,} of its {quota:,} API calls for today "
        f"({calls * 100 // quota if quota else 100}%), as of {now:%H:%M} UTC on "
        f"{format_date(now)}.\n\n{next_step} {reset}{more}\n\n"
        f"Your usage, live:\n{portal_url('/')}\n\n{_footer(label)}"
    )
    subject = f"CONTINUUM: {percent}% of today's API calls used ({calls:,} of {quota:,})"
    return AlertMail(subject, body)


def spend_cap(
    percent: int, label: str, tenant_name: str, summary: OverageSummary, now: datetime
) -> AlertMail:
    """The mail at ``percent`` of the monthly overage spend cap."""
    cost = format_money(whole_cents(summary.cost_cents))
    cap = format_money(summary.cap_cents)
    used = summary.calls * 100 // summary.cap_calls if summary.cap_calls else 100
    period = f"{format_date(summary.period_start)} to {format_date(summary.period_end)}"
    if percent < 100:
        outlook = (
            f"At the pace so far, this period's overage comes to about "
            f"{format_money(whole_cents(summary.projected_cents))}. At the cap, calls past the "
            "daily quota are refused with HTTP 429 until the period renews."
        )
    else:
        outlook = (
            f"Calls past the daily quota are now refused with HTTP 429 until the period renews on "
            f"{format_date(summary.period_end)} (UTC), or until you raise the cap."
        )
    body = (
        f"Hello,\n\n{tenant_name} has used {cost} of its {cap} monthly overage spend cap "
        f"({used}%): {summary.calls:,} calls past the daily quota this billing period "
        f"({period}, UTC), as of {now:%H:%M} UTC.\n\n{outlook}\n\n"
        f"Overage costs {RATE} and is billed with your next invoice. Change the cap or turn "
        "overage off on the billing page:\n"
        f"{portal_url(SETTINGS_ANCHOR)}\n\nYour usage, live:\n{portal_url('/')}\n\n"
        f"{_footer(label)}"
    )
    subject = f"CONTINUUM: {percent}% of your overage spend cap used ({cost} of {cap})"
    return AlertMail(subject, body)
