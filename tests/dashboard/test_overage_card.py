"""The dashboard's overage card: a Pro tenant with overage on sees the period's overage calls,
cost so far, projected cost and the cap as a bar, and the polled fragment keeps it current;
with overage off it sees one line that offers it; the usage chart stacks overage per day."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.billing.alert_mail import whole_cents
from portal.extensions import db
from portal.models import MeterReport, Tenant
from portal.plans import overage_cost_cents
from portal.web.formatting import format_date, format_money
from tests.dashboard.test_fragment_cost import fragment_statements
from tests.factory import Account, Factory


def overage_on(factory: Factory, cap_cents: int = 2_000) -> tuple[Account, datetime, datetime]:
    """A Pro tenant with overage on; its period started 10 days ago and ends in 20."""
    account = factory.account("pro", name="Acme")
    sub = factory.subscription(
        account.tenant_id, "active", period_end=datetime.now(UTC) + timedelta(days=20)
    )
    with account.app.app_context():
        db.session.execute(
            sa.update(Tenant)
            .where(Tenant.id == account.tenant_id)
            .values(overage_enabled=True, overage_cap_cents=cap_cents)
        )
        db.session.commit()
    assert sub.current_period_start and sub.current_period_end
    return account, sub.current_period_start, sub.current_period_end


def report(account: Account, period_start: datetime, calls: int, at: datetime) -> None:
    """An outbox row, as the usage flush writes one for ``calls`` overage calls made ``at``."""
    with account.app.app_context():
        db.session.add(
            MeterReport(
                tenant_id=account.tenant_id,
                period_start=int(period_start.timestamp()),
                quantity=calls,
                event_time=int(at.timestamp()),
            )
        )
        db.session.commit()


def card(html: str) -> str:
    match = re.search(r'<article id="overage-card".*?</article>', html, re.S)
    assert match, "no overage card"
    return match.group(0)


def stat(html: str, name: str) -> str:
    match = re.search(rf'data-overage="{name}">([^<]*)<', html)
    assert match, f"no {name}"
    return match.group(1)


@pytest.mark.both_dbs
def test_the_card_shows_the_periods_calls_cost_projection_and_cap(factory: Factory) -> None:
    account, start, end = overage_on(factory)
    now = datetime.now(UTC)
    report(account, start, 3_000, now - timedelta(days=2))
    report(account, start, 4_000, now - timedelta(hours=1))
    report(account, start - timedelta(days=30), 99_999, start - timedelta(days=1))  # last period
    html = card(account.client.get("/").get_data(as_text=True))
    assert "Overage this period" in html
    assert format_date(start) in html and format_date(end) in html
    assert stat(html, "calls") == "7,000"
    assert stat(html, "cost") == "$0.70"
    # 7,000 calls since the UTC midnight 7 days ago (the pace window is whole days), 20 days
    # to go: 7,000 + 7,000 * 20 days / (7 days and today's hours so far).
    window = timedelta(days=7, seconds=int(now.timestamp()) % 86_400)
    projected = 7_000 + int(7_000 * (end - now) / window)
    assert stat(html, "projected") == format_money(whole_cents(overage_cost_cents(projected)))
    assert 'data-bar="overage_cap"' in html and 'class="usage-bar level-ok"' in html
    assert "<strong>$0.70</strong> of $20.00" in html and ">3%<" in html
    assert 'max="2000"' in html
    assert 'href="/billing/#overage"' in html
    assert "hx-swap-oob" not in html, "only the fragment swaps it out of band"


def test_the_cap_bar_warns_at_80_percent_and_says_when_calls_stop(factory: Factory) -> None:
    account, start, end = overage_on(factory, cap_cents=100)
    report(account, start, 8_000, datetime.now(UTC))
    html = card(account.client.get("/").get_data(as_text=True))
    assert "level-warn" in html and "<strong>$0.80</strong> of $1.00" in html
    report(account, start, 2_000, datetime.now(UTC))
    html = card(account.client.get("/").get_data(as_text=True))
    assert "level-over" in html and "Cap reached." in html
    assert "Calls past the daily quota get a 429 until the period ends" in html
    assert stat(html, "projected") == "$1.00", "the projection stops at the cap"
    assert "the cap stops it there" in html


def test_past_the_quota_the_day_bar_says_calls_are_billed(factory: Factory) -> None:
    account, _, _ = overage_on(factory)
    factory.usage(account.tenant_id, "api_calls", 10_250, datetime.now(UTC).date())
    html = account.client.get("/").get_data(as_text=True)
    assert "<strong>Quota reached.</strong> Calls past it are billed as overage" in html
    assert "Limit reached." not in html
    assert "250 calls today were billed as overage" in html


def test_the_polled_fragment_updates_the_card_out_of_band(factory: Factory) -> None:
    account, start, _ = overage_on(factory)
    fragment = account.client.get("/dashboard/usage-bars", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="usage-bars"')
    assert '<article id="overage-card" class="overage-card"' in html
    assert 'hx-swap-oob="true"' in card(html)
    assert stat(html, "calls") == "0"
    report(account, start, 2_500, datetime.now(UTC))
    html = account.client.get("/dashboard/usage-bars").get_data(as_text=True)
    assert stat(html, "calls") == "2,500" and stat(html, "cost") == "$0.25"


def test_pro_without_overage_sees_one_line_offering_it(factory: Factory) -> None:
    account = factory.account("pro")
    factory.subscription(account.tenant_id, "active")
    html = account.client.get("/").get_data(as_text=True)
    offer = re.search(r'<p id="overage-card" class="overage-offer".*?</p>', html, re.S)
    assert offer and 'href="/billing/#overage"' in offer.group(0)
    assert "Turn on overage" in offer.group(0) and "$0.10 per 1,000 calls" in offer.group(0)
    assert "Overage this period" not in html
    fragment = account.client.get("/dashboard/usage-bars").get_data(as_text=True)
    assert 'id="overage-card" class="overage-offer" hx-swap-oob="true"' in fragment


@pytest.mark.parametrize("tier", ["free", "enterprise"])
def test_free_and_enterprise_see_no_overage_card(factory: Factory, tier: str) -> None:
    account = factory.account(tier)
    html = account.client.get("/").get_data(as_text=True)
    assert 'id="overage-card"' not in html
    assert 'id="overage-card"' not in account.client.get("/dashboard/usage-bars").get_data(
        as_text=True
    )


def test_the_chart_stacks_overage_calls_on_each_day(factory: Factory) -> None:
    account, _, _ = overage_on(factory)
    today = datetime.now(UTC).date()
    factory.usage(account.tenant_id, "api_calls", 12_000, today)
    factory.usage(account.tenant_id, "api_calls_overage", 2_000, today)
    factory.usage(account.tenant_id, "api_calls", 9_000, today - timedelta(days=1))
    html = account.client.get("/").get_data(as_text=True)
    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    assert svg
    overage = re.findall(r'<rect class="chart-overage"[^>]*height="([0-9.]+)"', svg.group(0))
    assert len(overage) == 1 and float(overage[0]) > 0
    assert "12,000 calls, 2,000 of them overage" in svg.group(0)
    assert "Overage (billed)" in html and "Of them overage" in html


def test_the_fragment_costs_one_more_query_with_overage_on_and_reads_no_outbox_row(
    app: Flask, factory: Factory
) -> None:
    """The subscription; the sums come from the outbox's running total, by primary key."""
    plain = factory.account("pro", name="Plain")
    factory.subscription(plain.tenant_id, "active")
    baseline = fragment_statements(app, plain.client)
    account, start, _ = overage_on(factory)
    for days in range(40):
        report(account, start, 10, datetime.now(UTC) - timedelta(days=days % 10))
    statements = fragment_statements(app, account.client)
    assert len(statements) <= len(baseline) + 1
    assert not any("meter_report" in sql for sql, _ in statements), "no outbox row is read"
    totals = [(sql, params) for sql, params in statements if "meter_day_total" in sql]
    assert totals, "the card reads the running total"
    with app.app_context(), db.engine.connect() as conn:
        for sql, params in totals:
            plan = " | ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "SCAN meter_day_total" not in plan, (sql, plan)
            assert "SCAN usage_counter" not in plan, (sql, plan)


def test_overage_is_the_top_part_of_its_days_bar() -> None:
    from portal.dashboard.chart import usage_chart
    from portal.dashboard.usage import DayCount

    today = datetime(2026, 11, 28, tzinfo=UTC).date()
    chart = usage_chart([DayCount(today, 100, 25), DayCount(today, 40)], 100, 300, 100)
    mixed, plain = chart.bars
    assert chart.has_overage
    assert mixed.overage_height == pytest.approx(mixed.height / 4)
    assert mixed.quota_y == pytest.approx(mixed.y + mixed.height / 4)
    assert mixed.quota_y + mixed.quota_height == pytest.approx(mixed.y + mixed.height)
    assert plain.overage_height == 0 and plain.quota_height == plain.height
