"""The analytics page as data, built in one pass: revenue figures and tables here, conversion,
payments and usage in ``report_usage``. Building blocks are in ``tables``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.admin import analytics as rev
from portal.admin.charts import Series, bar_chart
from portal.admin.report_usage import conversion_and_payments, usage
from portal.admin.tables import Column, Figure, Table, money, money_axis, percent
from portal.models import Tenant


@dataclass
class Report:
    now: datetime
    figures: list[Figure]
    tables: list[Table]
    names: dict[int, str]

    def table(self, table_id: str) -> Table | None:
        return next((t for t in self.tables if t.id == table_id), None)


def build(session: Session, now: datetime, grace: timedelta) -> Report:
    revenue = rev.Revenue.load(session, grace, now)
    names = dict(session.execute(sa.select(Tenant.id, Tenant.name)).all())
    months = rev.month_starts(now)
    labels = [f"{m:%b %y}" for m in months]
    figures: list[Figure] = []
    tables: list[Table] = []
    _revenue(session, revenue, now, months, labels, figures, tables)
    conversion_and_payments(session, revenue, now, months, labels, figures, tables)
    usage(session, now, months, labels, tables)
    return Report(now, figures, tables, names)


def _revenue(
    session: Session,
    revenue: rev.Revenue,
    now: datetime,
    months: list[datetime],
    labels: list[str],
    figures: list[Figure],
    tables: list[Table],
) -> None:
    mrr = revenue.mrr(now)
    paying = revenue.tenant_mrr(now)
    kinds = revenue.paying_by_kind(now)
    month_moves = rev.movements(revenue, months[-1], now)
    totals = rev.movement_totals(month_moves)
    churn = rev.churn(revenue, now)
    at_risk = rev.past_due(session)
    overage = rev.overage_this_period(session, now)
    no_contract = rev.enterprise_without_contract(session)
    arpu = rev.ratio(mrr, len(paying))
    figures += [
        Figure(
            "mrr",
            "MRR",
            money(mrr),
            "Monthly recurring revenue now: every paying "
            "subscription at its catalog price per month (a yearly plan counts 1/12 of its "
            "year's price) plus every enterprise contract's monthly price. Trials, unpaid "
            "first charges and past-due subscriptions beyond their grace period count $0."
            + (
                f" {no_contract} Enterprise tenant(s) have no contract recorded and count $0."
                if no_contract
                else ""
            ),
        ),
        Figure("arr", "ARR", money(mrr * 12), "Annual run rate: MRR × 12."),
        Figure(
            "paying", "Paying tenants", f"{len(paying):,}", "Tenants whose MRR is above $0 now."
        ),
        Figure(
            "arpu",
            "ARPU",
            money(arpu) if arpu is not None else "n/a",
            "Average revenue per paying tenant: MRR ÷ paying tenants.",
        ),
        Figure(
            "new-mrr",
            "New MRR this month",
            money(totals["new"]),
            "MRR of tenants who paid nothing on the 1st of this month (UTC) and pay now.",
        ),
        Figure(
            "expansion-mrr",
            "Expansion MRR this month",
            money(totals["expansion"]),
            "MRR added by tenants who paid on the 1st and pay more now.",
        ),
        Figure(
            "contraction-mrr",
            "Contraction MRR this month",
            money(totals["contraction"]),
            "MRR lost by tenants who paid on the 1st and pay less, but not nothing, now.",
        ),
        Figure(
            "churned-mrr",
            "Churned MRR this month",
            money(totals["churned"]),
            "MRR of tenants who paid on the 1st of this month and pay nothing now.",
        ),
        Figure(
            "logo-churn",
            "Logo churn (30 days)",
            percent(churn.logo_rate),
            f"Tenants paying 30 days ago who pay nothing now ({churn.lost} of "
            f"{churn.paying_then}), over the tenants paying 30 days ago.",
        ),
        Figure(
            "revenue-churn",
            "Revenue churn (30 days)",
            percent(churn.revenue_rate),
            f"MRR lost since 30 days ago by the tenants paying then, by leaving or paying "
            f"less ({money(churn.mrr_lost)}), over their MRR then ({money(churn.mrr_then)}). "
            "New customers do not offset it.",
        ),
        Figure(
            "past-due",
            "Past due",
            f"{len(at_risk):,}",
            "Subscriptions whose last charge failed and that Stripe is still retrying "
            "(status past_due).",
        ),
        Figure(
            "mrr-at-risk",
            "MRR at risk",
            money(sum((p.monthly_cents for p in at_risk), Decimal(0))),
            "The monthly value of the past-due subscriptions: lost if none of them pays.",
        ),
        Figure(
            "overage",
            "Overage revenue this period",
            money(sum((o.cents for o in overage), Decimal(0))),
            "Overage calls in each Pro tenant's current usage period, from the meter outbox "
            "(reported to Stripe or not yet), at $0.10 per 1,000 calls.",
        ),
    ]
    history = Table(
        "mrr-history",
        "MRR, last 12 months",
        "MRR at the end of each UTC month (now, for this month), the paying tenants then, and "
        "the month's movements: new, expansion, contraction and churned MRR between the "
        "month's first instant and its end.",
        [
            Column("Month"),
            Column("MRR", "money"),
            Column("Paying tenants", "int"),
            Column("New", "money"),
            Column("Expansion", "money"),
            Column("Contraction", "money"),
            Column("Churned", "money"),
        ],
    )
    mrr_values = []
    for start, label in zip(months, labels, strict=True):
        end = rev.month_end(start, now)
        moved = rev.movement_totals(rev.movements(revenue, start, end))
        value = revenue.mrr(end)
        mrr_values.append(float(value) / 100)
        history.rows.append(
            [
                label,
                value,
                len(revenue.tenant_mrr(end)),
                moved["new"],
                moved["expansion"],
                moved["contraction"],
                moved["churned"],
            ]
        )
    history.chart = bar_chart(
        "chart-mrr",
        "MRR at each month's end",
        labels,
        [Series("MRR", [v * 100 for v in mrr_values])],
        formatter=lambda cents: money(Decimal(str(cents))),
        axis=money_axis,
    )
    tables.append(history)
    tables.append(
        Table(
            "paying-by-plan",
            "Paying tenants by plan and interval",
            "Tenants paying now, by what they pay for. A tenant with two plans (e.g. a Pro "
            "subscription not yet canceled beside a new contract) counts under both.",
            [Column("Plan"), Column("Tenants", "int")],
            [[kind, kinds[kind]] for kind in rev.PLAN_KINDS],
        )
    )
    tables.append(
        Table(
            "mrr-movements",
            "MRR movements this month",
            "Every tenant whose MRR changed since the 1st of this month (UTC): who is new, who "
            "expanded or contracted, and who churned.",
            [
                Column("Tenant", "tenant"),
                Column("Movement"),
                Column("MRR on the 1st", "money"),
                Column("MRR now", "money"),
                Column("Change", "money"),
            ],
            [[m.tenant_id, m.kind, m.before, m.after, m.change] for m in month_moves],
        )
    )
    tables.append(
        Table(
            "past-due",
            "Past-due subscriptions",
            "Subscriptions in past_due now, oldest failure first, with the MRR each carries.",
            [
                Column("Tenant", "tenant"),
                Column("Subscription"),
                Column("Past due since", "date"),
                Column("MRR at risk", "money"),
            ],
            [[p.tenant_id, p.subscription_id, p.since, p.monthly_cents] for p in at_risk],
        )
    )
    tables.append(
        Table(
            "overage",
            "Overage this period",
            "Per tenant: overage calls in the current usage period (the metered item's month), "
            "how many Stripe has accepted so far, and what they cost at $0.10 per 1,000 calls.",
            [
                Column("Tenant", "tenant"),
                Column("Period start", "date"),
                Column("Overage calls", "int"),
                Column("Reported to Stripe", "int"),
                Column("Amount", "money"),
            ],
            [[o.tenant_id, o.period_start, o.calls, o.reported, o.cents] for o in overage],
        )
    )
