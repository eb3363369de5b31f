"""Every analytics figure against a scenario worked out by hand (the expected numbers are in
the comments), read through the same functions the console page uses, and on the page itself."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask

from portal.admin import analytics as rev
from portal.admin import contracts, report
from portal.admin import usage_stats as use
from portal.admin.audit import Actor
from portal.extensions import db
from portal.models import Tenant, utcnow
from tests.factory import Factory, PortalClient

GRACE = timedelta(days=7)


def enterprise(factory: Factory, app: Flask, price_cents: int, starts: date, **kw: int) -> int:
    """An Enterprise tenant on a contract made the way the console makes one."""
    tenant_id = factory.account().tenant_id
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None
        terms = contracts.ContractTerms(price_cents, starts, overrides=dict(kw))
        contracts.make_enterprise(tenant, terms, Actor("test"))
    return tenant_id


def pro(factory: Factory, status: str = "active", **kw: object) -> int:
    tenant_id = factory.account().tenant_id
    factory.subscription(tenant_id, status, **kw)  # type: ignore[arg-type]
    return tenant_id


def revenue(app: Flask, now: datetime) -> rev.Revenue:
    with app.app_context():
        return rev.Revenue.load(db.session, GRACE, now)


@pytest.mark.both_dbs
def test_mrr_of_the_issue_example(app: Flask, factory: Factory, db_backend: str) -> None:
    now = utcnow()
    long_ago = now - timedelta(days=60)
    for _ in range(3):
        pro(factory, started_at=long_ago)  # 3 × $29.00
    pro(factory, interval="year", started_at=long_ago)  # $278.40 / 12 = $23.20
    enterprise(factory, app, 200_000, long_ago.date())  # $2,000.00
    # Paying nothing: a running trial, an unpaid first charge, a subscription that ended, Free.
    pro(factory, "trialing", trial_end=now + timedelta(days=5), started_at=long_ago)
    pro(factory, "incomplete", started_at=long_ago)
    pro(factory, "canceled", started_at=long_ago, ended_at=now - timedelta(days=40))
    factory.account()

    money = revenue(app, now)
    assert money.mrr(now) == Decimal("211020")  # $2,110.20
    assert money.paying_by_kind(now) == {"Pro monthly": 3, "Pro yearly": 1, "Enterprise": 1}
    with app.app_context():
        built = report.build(db.session, now, GRACE)
    figures = {figure.id: figure.value for figure in built.figures}
    assert figures["mrr"] == "$2,110.20"
    assert figures["arr"] == "$25,322.40"  # × 12
    assert figures["paying"] == "5"
    assert figures["arpu"] == "$422.04"  # 2,110.20 / 5


def test_mrr_movements_this_month(app: Flask, factory: Factory) -> None:
    now = utcnow()
    month_start = rev.month_starts(now)[-1]
    before = month_start - timedelta(days=10)
    during = month_start + (now - month_start) / 2
    new = pro(factory, started_at=during)  # new: +$29.00
    up = pro(factory, started_at=before, previous_interval="year", price_changed_at=during)
    down = pro(
        factory,
        interval="year",
        started_at=before,
        previous_interval="month",
        price_changed_at=during,
    )  # $29.00 -> $23.20
    gone = pro(factory, "canceled", started_at=before, ended_at=during)  # churned: -$29.00
    pro(factory, started_at=before)  # unchanged

    moves = rev.movements(revenue(app, now), month_start, now)
    assert {(m.tenant_id, m.kind, m.change) for m in moves} == {
        (new, "new", Decimal(2900)),
        (up, "expansion", Decimal(580)),  # $23.20 -> $29.00
        (down, "contraction", Decimal(-580)),
        (gone, "churned", Decimal(-2900)),
    }
    assert rev.movement_totals(moves) == {
        "new": Decimal(2900),
        "expansion": Decimal(580),
        "contraction": Decimal(580),
        "churned": Decimal(2900),
    }
    assert revenue(app, now).mrr(now) == Decimal(11020)  # 29 + 29 + 23.20 + 29


def test_churn_over_30_days(app: Flask, factory: Factory) -> None:
    now = utcnow()
    long_ago, recently = now - timedelta(days=60), now - timedelta(days=10)
    pro(factory, started_at=long_ago)  # still paying $29
    pro(factory, "canceled", started_at=long_ago, ended_at=recently)  # lost: $29
    pro(
        factory,
        interval="year",
        started_at=long_ago,
        previous_interval="month",
        price_changed_at=recently,
    )  # pays $5.80 less
    pro(factory, started_at=recently)  # new since: does not offset churn
    enterprise(factory, app, 100_000, long_ago.date())  # $1,000, still paying

    churn = rev.churn(revenue(app, now), now)
    assert (churn.paying_then, churn.lost) == (4, 1)
    assert churn.logo_rate == Decimal("0.25")
    assert churn.mrr_then == Decimal(108_700)  # 29 + 29 + 29 + 1,000
    assert churn.mrr_lost == Decimal(3480)  # 29 + 5.80
    assert report.percent(churn.revenue_rate) == "3.2 %"  # 34.80 / 1,087


def test_trial_and_free_to_paid_conversion(app: Flask, factory: Factory) -> None:
    now = utcnow()
    signed_up = now - timedelta(days=30)

    def trial(ended_days_ago: int, invoice: dict[str, object] | None) -> None:
        tenant_id = factory.account(created_at=now - timedelta(days=200)).tenant_id
        sub = factory.subscription(
            tenant_id,
            "active",
            trial_end=now - timedelta(days=ended_days_ago),
            started_at=now - timedelta(days=ended_days_ago + 14),
        )
        if invoice is not None:
            factory.invoice(tenant_id, subscription_id=sub.stripe_subscription_id, **invoice)  # type: ignore[arg-type]

    trial(20, {"status": "paid", "amount": 2900})  # converted
    trial(10, {"status": "open", "attempt_count": 2})  # its first charge keeps failing
    trial(5, {"status": "paid", "amount": 0})  # a $0 invoice is not a payment
    trial(100, {"status": "paid"})  # ended before the 90-day window
    with app.app_context():
        trials = rev.trial_conversion(db.session, now - timedelta(days=90), now)
    assert (trials.total, trials.converted) == (3, 1)

    paying = factory.account(created_at=signed_up).tenant_id
    factory.subscription(paying, started_at=signed_up)
    trying = factory.account(created_at=signed_up).tenant_id
    factory.subscription(trying, "trialing", trial_end=now + timedelta(days=3))
    factory.account(created_at=signed_up)  # still free
    left = factory.account(created_at=signed_up).tenant_id  # paid 10 days, then left
    factory.subscription(
        left, "canceled", started_at=signed_up, ended_at=signed_up + timedelta(days=10)
    )
    with app.app_context():
        signups = rev.free_to_paid(
            db.session, rev.Revenue.load(db.session, GRACE, now), now - timedelta(days=90), now, now
        )
    assert (signups.total, signups.converted) == (4, 2)
    assert signups.rate == Decimal("0.5")


def test_payment_success_rate(app: Flask, factory: Factory) -> None:
    now = utcnow()
    tenant_id = factory.account(customer_id="cus_pay").tenant_id
    factory.invoice(tenant_id, status="paid", attempt_count=1)  # yes
    factory.invoice(tenant_id, status="paid", attempt_count=1)  # yes
    factory.invoice(tenant_id, status="paid", attempt_count=3)  # paid after retries: no
    factory.invoice(tenant_id, status="open", attempt_count=2)  # still failing: no
    factory.invoice(tenant_id, status="open", attempt_count=0)  # not charged yet: left out
    factory.invoice(tenant_id, status="paid", amount=0, attempt_count=0)  # $0: left out
    factory.invoice(tenant_id, status="void", attempt_count=1)  # void: left out
    factory.invoice(tenant_id, status="paid", created=now - timedelta(days=40))  # too old
    with app.app_context():
        rate = rev.payment_success(db.session, now - timedelta(days=30), utcnow())
    assert (rate.total, rate.converted) == (4, 2)


def test_past_due_and_mrr_at_risk(app: Flask, factory: Factory) -> None:
    now = utcnow()
    started = now - timedelta(days=60)
    within = pro(factory, "past_due", started_at=started, past_due_since=now - timedelta(days=2))
    beyond = pro(
        factory,
        "past_due",
        interval="year",
        started_at=started,
        past_due_since=now - timedelta(days=10),
    )
    pro(factory, started_at=started)
    with app.app_context():
        due = rev.past_due(db.session)
    assert [(d.tenant_id, d.monthly_cents) for d in due] == [
        (beyond, Decimal(2320)),
        (within, Decimal(2900)),
    ]  # oldest first; $52.20 at risk
    # Within its grace period a past-due subscription still counts in MRR; beyond it, not.
    assert revenue(app, now).mrr(now) == Decimal(5800)


def test_overage_revenue_this_period(app: Flask, factory: Factory) -> None:
    now = utcnow()
    first = factory.account("pro").tenant_id
    sub = factory.subscription(first)
    start = sub.current_period_start
    assert start is not None
    factory.meter_report(first, start, 2_500, reported=True)
    factory.meter_report(first, start, 7_500)  # not reported yet: counts too
    factory.meter_report(first, start - timedelta(days=30), 50_000, reported=True)  # last period
    second = factory.account("pro").tenant_id
    second_start = factory.subscription(second).current_period_start
    assert second_start is not None
    factory.meter_report(second, second_start, 1_234)
    with app.app_context():
        overage = rev.overage_this_period(db.session, now)
    assert [(o.tenant_id, o.calls, o.reported, o.cents) for o in overage] == [
        (first, 10_000, 2_500, Decimal(100)),  # 10,000 calls × $0.10 / 1,000 = $1.00
        (second, 1_234, 0, Decimal("12.34")),
    ]
    with app.app_context():
        built = report.build(db.session, now, GRACE)
    assert {f.id: f.value for f in built.figures}["overage"] == "$1.12"  # 112.34 cents


def usage_scenario(factory: Factory) -> tuple[int, int, int]:
    today = utcnow().date()
    free = factory.account("free", name="Freda").tenant_id
    factory.usage(free, "api_calls", 100, today)  # at the Free limit (100)
    factory.usage(free, "api_calls", 50, today - timedelta(days=1))
    factory.usage(free, "api_calls:/api/search", 30, today)
    factory.storage(free, memories=10, bytes_used=90_000_000)  # 90 of 100 MB
    paid = factory.account("pro", name="Prosper").tenant_id
    factory.usage(paid, "api_calls", 9_000, today)  # 90 % of 10,000
    factory.usage(paid, "api_calls", 10_000, today - timedelta(days=3))  # at the limit
    factory.usage(paid, "api_calls:/api/federation", 40, today - timedelta(days=3))
    factory.usage(paid, "api_calls:/api/search", 10, today)
    big = factory.account(
        "enterprise", name="Biggs", overrides={"api_calls_per_day": 500}
    ).tenant_id
    factory.usage(big, "api_calls", 600, today)  # past its contract's 500
    factory.usage(big, "api_calls", 5_000, today - timedelta(days=40))  # outside 30 days
    return free, paid, big


@pytest.mark.both_dbs
def test_usage_figures(app: Flask, factory: Factory, db_backend: str) -> None:
    free, paid, big = usage_scenario(factory)
    today = utcnow().date()
    first = today - timedelta(days=29)
    with app.app_context():
        session = db.session
        assert use.calls_per_tier(session, first, today) == {
            "free": 150,
            "pro": 19_000,
            "enterprise": 600,
        }
        hits = {
            h.tier: (h.active_days, h.days_at_limit)
            for h in use.daily_limit_hits(session, first, today)
        }
        assert hits == {"free": (2, 1), "pro": (2, 1), "enterprise": (1, 1)}
        adoption = {
            (f.feature, f.tier): (f.calls, f.tenants)
            for f in use.feature_adoption(session, first, today)
            if f.calls
        }
        assert adoption == {
            ("semantic_search", "free"): (30, 1),
            ("semantic_search", "pro"): (10, 1),
            ("federation", "pro"): (40, 1),
        }
        top = use.top_tenants(session, first, today)
        assert [(t.tenant_id, t.calls, t.today, t.today_percent) for t in top] == [
            (paid, 19_000, 9_000, 90),
            (big, 600, 600, 120),
            (free, 150, 100, 100),
        ]
        near = {(n.tenant_id, n.limit, n.percent) for n in use.near_limits(session, today)}
        assert near == {
            (big, "API calls today", 120),
            (free, "API calls today", 100),
            (free, "Storage (MB)", 90),
            (paid, "API calls today", 90),
        }
        months = [m.date() for m in rev.month_starts(utcnow())]
        monthly = use.monthly_calls_per_tier(session, months, today)
    assert sum(monthly["enterprise"]) == 5_600  # the 12-month chart keeps the older day
    assert monthly["pro"][-1] + monthly["pro"][-2] == 19_000


def test_the_page_and_its_csv(staff: PortalClient, app: Flask, factory: Factory) -> None:
    now = utcnow()
    for _ in range(3):
        pro(factory, started_at=now - timedelta(days=60))
    pro(factory, interval="year", started_at=now - timedelta(days=60))
    enterprise(factory, app, 200_000, (now - timedelta(days=60)).date())
    usage_scenario(factory)

    page = staff.get("/admin/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "$2,110.20" in html and "$25,322.40" in html
    assert "a yearly plan counts 1/12 of its year" in html  # the definition is on the page
    assert html.count('<svg class="chart"') == 3

    history = staff.get("/admin/analytics/mrr-history.csv")
    assert history.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(history.get_data(as_text=True))))
    assert rows[0][:3] == ["Month", "MRR", "Paying tenants"]
    assert rows[-1][1:3] == ["2110.20", "5"]
    assert [row[1] for row in rows[1:4]] == ["0.00", "0.00", "0.00"]  # before anyone paid
    top = list(
        csv.reader(
            io.StringIO(staff.get("/admin/analytics/top-tenants.csv").get_data(as_text=True))
        )
    )
    assert top[0][:3] == ["Tenant id", "Tenant", "Tier"]
    assert top[1][1:4] == ["Prosper", "pro", "19000"]
    assert staff.get("/admin/analytics/nothing.csv").status_code == 404
