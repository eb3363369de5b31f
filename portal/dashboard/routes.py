"""Dashboard views: the signed-in home page, its live usage fragment, and the usage page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_blocks

from portal.billing.alert_mail import whole_cents
from portal.billing.overage import OVERAGE_SUM_COLUMNS, OverageSummary, OverageWindow
from portal.billing.subscriptions import current_subscription
from portal.dashboard import usage
from portal.dashboard.chart import usage_chart
from portal.enforcement import current_usage_snapshot
from portal.extensions import db
from portal.models import Tenant
from portal.plans import PLANS, PricingTier
from portal.teams.context import current_tenant
from portal.web.formatting import format_money

bp = Blueprint("dashboard", __name__)

#: However it is configured, the fragment is not polled more often than this.
MIN_POLL_SECONDS = 0.1


@bp.get("/")
def index() -> str:
    if not current_user.is_authenticated:
        return render_template("home.html", free_limits=PLANS[PricingTier.FREE].limits)
    tenant: Tenant = current_tenant()
    now = datetime.now(UTC)
    context = _bars_context(tenant, now)
    series = usage.daily_series(db.session(), tenant.id, now.date())
    return render_template(
        "dashboard/index.html",
        tenant=tenant,
        plan=PLANS[tenant.pricing_tier],
        limits=tenant.limits,
        features=sorted(feature.label for feature in tenant.limits.features),
        chart=usage_chart(series, tenant.limits.api_calls_per_day),
        **context,
    )


@bp.get("/dashboard/usage-bars")
@login_required
def usage_bars() -> str:
    """The polled fragment: the ``usage_bars`` block of the dashboard, and the overage card
    swapped out of band (``hx-swap-oob``), so one poll keeps both current."""
    context = _bars_context(current_tenant(), datetime.now(UTC))
    blocks = ["usage_bars", "overage_card"]
    return render_blocks("dashboard/index.html", blocks, out_of_band=True, **context)


@bp.get("/usage")
@login_required
def usage_page() -> str:
    tenant: Tenant = current_tenant()
    today = datetime.now(UTC).date()
    session = db.session()
    reads = usage.fragment_reads(session, tenant.id, today)
    live = live_usage(tenant.id)
    bars = usage.usage_bars(tenant.limits, reads.stored_today, live, reads.storage)
    return render_template(
        "dashboard/usage.html",
        limits=tenant.limits,
        endpoints=usage.endpoint_usage(session, tenant.id, today),
        calls_today=usage.calls_today(reads.stored_today, live),
        calls_month=reads.month_calls,
        storage=reads.storage,
        storage_bars=[bar for bar in bars if bar.key in usage.STORAGE_BARS],
        today=today,
    )


def _bars_context(tenant: Tenant, now: datetime) -> dict[str, Any]:
    """What the ``usage_bars`` block and the overage card need, in at most two queries (the
    subscription, for a Pro tenant with overage on; then one SELECT of every sum and row) on
    top of the signed-in user's, and the live snapshot."""
    limits = tenant.limits
    overage = tenant.pricing_tier == PricingTier.PRO and bool(tenant.overage_enabled)
    window = OverageWindow.of(current_subscription(tenant), now) if overage else None
    extra, params = (OVERAGE_SUM_COLUMNS, window.params(tenant.id)) if window else ((), {})
    reads = usage.fragment_reads(db.session(), tenant.id, now.date(), extra, params)
    stored_today = reads.stored_today
    live = live_usage(tenant.id)
    today = usage.calls_today(stored_today, live)
    # The month's flushed rows, with today's stored count swapped for the live one.
    month = reads.month_calls - stored_today + today
    context = {
        "bars": usage.usage_bars(limits, stored_today, live, reads.storage, overage=overage),
        "day_projection": usage.daily_limit_projection(
            today, limits.api_calls_per_day, now, overage=overage
        ),
        "month_projection": usage.monthly_share(month, limits.api_calls_per_day, now.date()),
        "updated_at": now,
        "poll_seconds": poll_seconds(),
    }
    if tenant.pricing_tier != PricingTier.PRO:
        return {**context, "overage": None}
    if window is None:  # overage off: a line that offers it
        return {**context, "overage": None, "offer_overage": True}
    calls, recent = reads.extra
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
