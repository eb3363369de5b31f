"""Dashboard views: the signed-in home page, its live usage fragment, and the usage page."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_blocks

from portal.billing.alert_mail import whole_cents
from portal.billing.overage import OVERAGE_SUM_COLUMNS, OverageSummary, OverageWindow
from portal.billing.subscriptions import current_subscription, ended
from portal.billing.views.view_models import PlanState, describe_subscription
from portal.dashboard import usage
from portal.dashboard.chart import chart_key, usage_chart
from portal.dashboard.first_run import FIRST_RUN_COLUMNS, first_run_context, steps_from
from portal.dashboard.outcomes import COLUMNS as OUTCOME_COLUMNS
from portal.dashboard.outcomes import month_outcomes
from portal.dashboard.poll_reads import register as register_poll_reads
from portal.dashboard.reads import fragment_reads
from portal.enforcement import current_usage_snapshot
from portal.extensions import db
from portal.models import Subscription, Tenant
from portal.plans import PLANS, PricingTier
from portal.teams.context import current_tenant
from portal.web.formatting import format_money

bp = Blueprint("dashboard", __name__)
register_poll_reads(bp)  # the poll reads without BEGIN/ROLLBACK on PostgreSQL

#: However it is configured, the fragment is not polled more often than this.
MIN_POLL_SECONDS = 0.1


@bp.get("/")
def index() -> str:
    if not current_user.is_authenticated:
        return render_template("home.html", free_limits=PLANS[PricingTier.FREE].limits)
    tenant: Tenant = current_tenant()
    now = datetime.now(UTC)
    context = _bars_context(tenant, now, guide=True)
    return render_template(
        "dashboard/index.html",
        tenant=tenant,
        plan=PLANS[tenant.pricing_tier],
        features=sorted(feature.label for feature in tenant.limits.features),
        plan_ends=_plan_ends(tenant),
        **context,
        **first_run_context(context.pop("steps")),
    )


@bp.get("/dashboard/usage-bars")
@login_required
def usage_bars() -> str:
    """The polled fragment: the ``usage_bars`` block of the dashboard, with the overage card
    and the 30-day chart swapped out of band (``hx-swap-oob``), so one poll keeps all three
    current (today's bar is the live count, the same as the day's bar).

    The chart is the costly part, and most polls would redraw it unchanged: the block's poll
    URL carries the key of the chart the page shows (``?chart=``, see ``chart_key``), and the
    chart is sent only when its numbers differ from that (today's count moved, a new day)."""
    tenant: Tenant = current_tenant()
    guide = bool(request.args.get("guide"))
    context = _bars_context(
        tenant, datetime.now(UTC), shown_chart=request.args.get("chart"), guide=guide
    )
    blocks = ["usage_bars", "overage_card"]
    if context["chart"] is not None:
        blocks.append("trend_chart")
    if guide:
        # The page shows the first-run guide: its ticks move live too, and when the last one
        # ticks it stays (all done) until the next page load, which no longer shows it.
        context.update(first_run_context(context.pop("steps"), keep=True))
        blocks.append("first_run")
    return render_blocks("dashboard/index.html", blocks, out_of_band=True, **context)


@bp.get("/usage")
@login_required
def usage_page() -> str:
    tenant: Tenant = current_tenant()
    today = datetime.now(UTC).date()
    session = db.session()
    paid = tenant.pricing_tier != PricingTier.FREE
    first, last = billing_period(current_subscription(tenant) if paid else None, today)
    reads = fragment_reads(session, tenant.id, today, period_start=first)
    live = live_usage(tenant.id)
    bars = usage.usage_bars(tenant.limits, reads.stored_today, live, reads.storage)
    calls_today = usage.calls_today(reads.stored_today, live)
    return render_template(
        "dashboard/usage.html",
        limits=tenant.limits,
        endpoints=usage.endpoint_usage(session, tenant.id, today),
        outcomes=month_outcomes(session, tenant.id, today),
        outcome_columns=OUTCOME_COLUMNS,
        calls_today=calls_today,
        period_first=first,
        period_last=last,
        calls_period=reads.period_calls - reads.stored_today + calls_today,
        storage=reads.storage,
        storage_bars=[bar for bar in bars if bar.key in usage.STORAGE_BARS],
        today=today,
    )


def _bars_context(
    tenant: Tenant, now: datetime, shown_chart: str | None = None, *, guide: bool = False
) -> dict[str, Any]:
    """What the ``usage_bars`` block, the 30-day chart and the overage card need, in at most
    two queries on top of the signed-in user's: the subscription (paid plans only: their
    billing period, and the overage window), then one SELECT of every sum, row and day.
    ``chart`` is None when its key is ``shown_chart`` (the page already shows that chart).
    With ``guide``, the same SELECT reads the first-run guide's steps too (``steps``)."""
    limits = tenant.limits
    sub = current_subscription(tenant) if tenant.pricing_tier != PricingTier.FREE else None
    first, last = billing_period(sub, now.date())
    overage = tenant.pricing_tier == PricingTier.PRO and bool(tenant.overage_enabled)
    window = OverageWindow.of(sub, now) if overage else None
    extra, params = (OVERAGE_SUM_COLUMNS, window.params(tenant.id)) if window else ((), {})
    if guide:
        extra = (*extra, *FIRST_RUN_COLUMNS)
    reads = fragment_reads(
        db.session(), tenant.id, now.date(), extra, params, period_start=first, series=True
    )
    stored_today = reads.stored_today
    live = live_usage(tenant.id)
    today = usage.calls_today(stored_today, live)
    # The period's flushed rows, with today's stored count swapped for the live one.
    period = reads.period_calls - stored_today + today
    # The chart's last bar is today's live count, so it moves with the day's bar.
    series = list(reads.series)
    series[-1] = replace(series[-1], calls=max(series[-1].calls, today))
    key = chart_key(series, limits.api_calls_per_day)
    context = {
        "limits": limits,
        "calls_today": today,
        "chart": None if key == shown_chart else usage_chart(series, limits.api_calls_per_day),
        "chart_key": key,
        "bars": usage.usage_bars(limits, stored_today, live, reads.storage, overage=overage),
        "day_projection": usage.daily_limit_projection(
            today,
            limits.api_calls_per_day,
            now,
            overage=overage,
            calls_this_minute=live.calls_this_minute,
            minute_limit=limits.api_calls_per_minute,
        ),
        "month_projection": usage.period_total(period, first, last),
        "updated_at": now,
        "poll_seconds": poll_seconds(),
    }
    if guide:
        context["steps"] = steps_from(reads.extra[-len(FIRST_RUN_COLUMNS) :], today)
    if tenant.pricing_tier != PricingTier.PRO:
        return {**context, "overage": None}
    if window is None:  # overage off: a line that offers it
        return {**context, "overage": None, "offer_overage": True}
    calls, recent = reads.extra[: len(OVERAGE_SUM_COLUMNS)]
    return {**context, **_overage_context(window.summary(tenant, calls, recent))}


def _overage_context(summary: OverageSummary) -> dict[str, Any]:
    """The overage card of a Pro tenant with overage on: the period's numbers."""
    shown = (format_money(whole_cents(summary.cost_cents)), format_money(summary.cap_cents))
    return {
        "overage": summary,
        "overage_bar": usage.overage_cap_bar(
            summary.cost_cents, summary.cap_cents, summary.period_end, shown
        ),
        "overage_cost": shown[0],
        "overage_projected": format_money(whole_cents(summary.projected_cents)),
    }


def _plan_ends(tenant: Tenant) -> datetime | None:
    """When a cancelled plan ends ("Pro · ends 28 Dec"), while that cancellation is pending."""
    view = describe_subscription(tenant)
    if view.state == PlanState.CANCELING and view.subscription is not None:
        return view.subscription.current_period_end
    return None


def billing_period(sub: Subscription | None, today: date) -> tuple[date, date | None]:
    """The UTC days of the current billing period: ``sub``'s (the tenant's subscription), or
    else the calendar month so far (``None`` for an end: it runs to today)."""
    if sub is not None and not ended(sub) and sub.current_period_start and sub.current_period_end:
        first = sub.current_period_start.date()
        if first <= today:
            return first, (sub.current_period_end - timedelta(seconds=1)).date()
    return today.replace(day=1), None


def poll_seconds() -> str:
    """``USAGE_POLL_SECONDS`` as htmx and people read it: ``3``, ``0.5``."""
    seconds = float(current_app.config["USAGE_POLL_SECONDS"])
    return f"{max(seconds, MIN_POLL_SECONDS):g}"


def live_usage(tenant_id: int) -> usage.LiveUsage:
    """The enforcement store's counts for this tenant right now."""
    snapshot = current_usage_snapshot(tenant_id)
    return usage.LiveUsage(
        calls_this_minute=snapshot["minute"],
        calls_today=snapshot["day"],
        concurrent=snapshot["concurrent"],
    )
