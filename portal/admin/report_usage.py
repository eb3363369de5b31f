"""The analytics page's conversion, payment and usage sections (see ``report``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from portal.admin import analytics as rev
from portal.admin import usage_stats as use
from portal.admin.charts import Series, bar_chart
from portal.admin.tables import Column, Figure, Table, percent
from portal.enforcement.lifecycle import OUTCOMES

WINDOW_DAYS = 30


def conversion_and_payments(
    session: Session,
    revenue: rev.Revenue,
    now: datetime,
    months: list[datetime],
    labels: list[str],
    figures: list[Figure],
    tables: list[Table],
) -> None:
    since = now - rev.CONVERSION_WINDOW
    trials = rev.trial_conversion(session, since, now)
    signups = rev.free_to_paid(session, revenue, since, now, now)
    payments = rev.payment_success(session, now - rev.PAYMENT_WINDOW, now)
    figures += [
        Figure(
            "trial-to-paid",
            "Trial-to-paid (90 days)",
            percent(trials.rate),
            f"Trials that ended in the last 90 days and were followed by a paid invoice "
            f"({trials.converted} of {trials.total}).",
        ),
        Figure(
            "free-to-paid",
            "Free-to-paid (90 days)",
            percent(signups.rate),
            f"Tenants that signed up in the last 90 days and have paid for a plan since "
            f"({signups.converted} of {signups.total}).",
        ),
        Figure(
            "payment-success",
            "Payment success (30 days)",
            percent(payments.rate),
            f"Invoices created in the last 30 days with an amount due that Stripe tried to "
            f"charge, paid at the first attempt ({payments.converted} of {payments.total}).",
        ),
    ]
    table = Table(
        "conversion-history",
        "Conversion and payments, last 12 months",
        "Per UTC month: trials that ended and how many a paid invoice followed; sign-ups and "
        "how many have paid for a plan since; invoices charged and how many the first attempt "
        "paid.",
        [
            Column("Month"),
            Column("Trials ended", "int"),
            Column("Trials paid", "int"),
            Column("Sign-ups", "int"),
            Column("Sign-ups paid", "int"),
            Column("Invoices charged", "int"),
            Column("Paid at first attempt", "int"),
            Column("Payment success", "percent"),
        ],
    )
    for start, label in zip(months, labels, strict=True):
        end = rev.month_end(start, now)
        t = rev.trial_conversion(session, start, end)
        s = rev.free_to_paid(session, revenue, start, end, now)
        p = rev.payment_success(session, start, end)
        table.rows.append(
            [label, t.total, t.converted, s.total, s.converted, p.total, p.converted, p.rate]
        )
    table.chart = bar_chart(
        "chart-signups",
        "Sign-ups per month, and those that have paid since",
        labels,
        [
            Series("Paid since", [r[4] for r in table.rows]),
            Series("Still free", [r[3] - r[4] for r in table.rows]),
        ],
    )
    tables.append(table)


def usage(
    session: Session,
    now: datetime,
    months: list[datetime],
    labels: list[str],
    tables: list[Table],
) -> None:
    today = now.date()
    first = today - timedelta(days=WINDOW_DAYS - 1)
    per_tier = use.calls_per_tier(session, first, today)
    monthly = use.monthly_calls_per_tier(session, [m.date() for m in months], today)
    calls = Table(
        "calls-per-tier",
        "API calls per tier, last 12 months",
        "Calls the API admitted (the api_calls counter) per UTC month, grouped by each "
        f"tenant's tier now. Last {WINDOW_DAYS} days: "
        + ", ".join(f"{tier} {count:,}" for tier, count in per_tier.items())
        + ".",
        [Column("Month")] + [Column(tier.capitalize(), "int") for tier in use.TIERS],
        [[label] + [monthly[tier][i] for tier in use.TIERS] for i, label in enumerate(labels)],
    )
    calls.chart = bar_chart(
        "chart-calls",
        "API calls per month by tier",
        labels,
        [Series(tier.capitalize(), monthly[tier]) for tier in use.TIERS],
    )
    tables.append(calls)
    tables.append(
        Table(
            "limit-hits",
            f"Daily-limit hits per tier, last {WINDOW_DAYS} days",
            "Tenant-days with at least one call, and those on which the tenant's calls reached its "
            "daily limit (contract overrides included; Pro calls past it with overage on count "
            "too). This counts days, not refused calls: the 429s per endpoint are in "
            "'Call outcomes per endpoint' below, and live by limit (minute, day, concurrent) "
            "on /metrics as continuum_rate_limited_total{tier,limit}.",
            [
                Column("Tier"),
                Column("Active tenant-days", "int"),
                Column("Days at the limit", "int"),
                Column("Hit rate", "percent"),
            ],
            [
                [h.tier, h.active_days, h.days_at_limit, h.rate]
                for h in use.daily_limit_hits(session, first, today)
            ],
        )
    )
    tables.append(
        Table(
            "feature-adoption",
            f"Feature adoption, last {WINDOW_DAYS} days",
            "Per feature and tier: admitted calls to the feature's routes (semantic search: "
            "/api/search; federation: /api/federation; realtime sync: /api/realtime) and how many "
            "tenants made them. Calls a tier's plan refuses are not counted.",
            [Column("Feature"), Column("Tier"), Column("Calls", "int"), Column("Tenants", "int")],
            [
                [f.feature, f.tier, f.calls, f.tenants]
                for f in use.feature_adoption(session, first, today)
            ],
        )
    )
    tables.append(
        Table(
            "top-tenants",
            f"Top tenants by usage, last {WINDOW_DAYS} days",
            f"The 20 tenants with the most admitted calls in the last {WINDOW_DAYS} days, with "
            "today's calls against their daily limit.",
            [
                Column("Tenant", "tenant"),
                Column("Tier"),
                Column("Calls", "int"),
                Column("Today", "int"),
                Column("Daily limit", "int"),
                Column("Today, % of limit", "int"),
            ],
            [
                [t.tenant_id, t.tier, t.calls, t.today, t.daily_limit, t.today_percent]
                for t in use.top_tenants(session, first, today)
            ],
        )
    )
    tables.append(
        Table(
            "near-limits",
            "Tenants near their limits",
            f"Tenants at {use.NEAR_LIMIT_PERCENT} % or more of today's call limit (UTC day, as "
            "flushed, about a second behind), of their memories or of their storage.",
            [
                Column("Tenant", "tenant"),
                Column("Tier"),
                Column("Limit"),
                Column("Used", "int"),
                Column("Allowed", "int"),
                Column("% used", "int"),
            ],
            [
                [n.tenant_id, n.tier, n.limit, n.used, n.allowed, n.percent]
                for n in use.near_limits(session, today)
            ],
        )
    )
    tables.append(
        Table(
            "endpoint-outcomes",
            f"Call outcomes per endpoint, last {WINDOW_DAYS} days",
            "Every tenant's calls per API endpoint (the route's template) and how each ended: "
            "succeeded (2xx/3xx), client error (4xx from the handler), server error (5xx, "
            "refunded from the quota), or refused by us before it ran: by a rate limit (429), "
            "by the plan (403, a feature the tier lacks) or by storage (507). Refused calls "
            "never count against a quota and are never billed; 401s (no valid key) have no "
            "tenant and are not here. As flushed (about a second behind); the 50 busiest "
            "endpoints.",
            [Column("Endpoint")] + [Column(_OUTCOME_NAMES[kind], "int") for kind in OUTCOMES],
            [
                [o.route] + [o.counts[kind] for kind in OUTCOMES]
                for o in use.endpoint_outcomes(session, first, today)
            ],
        )
    )


_OUTCOME_NAMES = {
    "succeeded": "Succeeded",
    "client_error": "Client errors",
    "server_error": "Server errors",
    "refused_rate_limit": "Refused: rate limit",
    "refused_plan": "Refused: plan",
    "refused_storage": "Refused: storage",
}
