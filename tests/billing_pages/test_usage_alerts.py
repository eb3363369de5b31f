"""Usage alerts arrive over real SMTP exactly once: per UTC day at 80% and 100% of the daily
quota, per usage period at 50%, 80% and 100% of the overage spend cap. Two concurrent passes,
a restart, a crash between claim and send, and a mail server that is down change nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import create_app
from portal.billing.alerts import STALE_CLAIM, cap_period, daily_period, send_due_alerts
from portal.extensions import db
from portal.models import MeterReport, Subscription, Tenant, UsageAlert, UsageCounter
from tests.conftest import MailSink
from tests.factory import Account, Factory

NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


def run(app: Flask, now: datetime = NOW) -> int:
    with app.app_context():
        return send_due_alerts(now)


def subjects(sink: MailSink, address: str) -> list[str]:
    return [str(message["Subject"]) for message in sink.to(address)]


def set_tenant(account: Account, **values: Any) -> None:
    with account.app.app_context():
        db.session.execute(sa.update(Tenant).where(Tenant.id == account.tenant_id).values(values))
        db.session.commit()


def overage_account(factory: Factory, *, cap_cents: int = 100) -> tuple[Account, datetime]:
    """A Pro tenant with overage on and a $1 cap (10,000 calls); returns it and its period."""
    account = factory.account("pro")
    sub = factory.subscription(account.tenant_id, "active", period_end=NOW + timedelta(days=12))
    set_tenant(account, overage_enabled=True, overage_cap_cents=cap_cents)
    assert sub.current_period_start is not None
    return account, sub.current_period_start


def add_overage(account: Account, period_start: datetime, calls: int) -> None:
    """Overage calls as the usage flush records them: an outbox row and today's counter."""
    with account.app.app_context():
        db.session.add(
            MeterReport(
                tenant_id=account.tenant_id,
                period_start=int(period_start.timestamp()),
                quantity=calls,
                event_time=int(NOW.timestamp()),
            )
        )
        counter = db.session.get(
            UsageCounter, (account.tenant_id, "api_calls_overage", NOW.date())
        ) or UsageCounter(
            tenant_id=account.tenant_id, metric="api_calls_overage", day=NOW.date(), value=0
        )
        counter.value += calls
        db.session.add(counter)
        db.session.commit()


@pytest.mark.both_dbs
def test_daily_quota_alerts_arrive_once_per_day_at_80_and_100_percent(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    account = factory.account("pro")
    factory.usage(account.tenant_id, "api_calls", 7_999, NOW.date())
    assert run(app) == 0
    factory.usage(account.tenant_id, "api_calls", 8_000, NOW.date())
    assert run(app) == 1
    assert run(app) == 0
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "CONTINUUM: 80% of today's API calls used (8,000 of 10,000)"
    assert mail["To"] == account.email
    body = mail.get_content()
    assert "8,000 of its 10,000 API calls for today (80%)" in body
    assert "as of 15:30 UTC" in body and "resets at 00:00 UTC, in 8 h 30 min" in body
    assert "turn on overage" in body, "a Pro tenant without overage is told it exists"
    assert "http://127.0.0.1:5000/" in body
    assert "switch it off" in body and "/billing/#overage" in body

    factory.usage(account.tenant_id, "api_calls", 10_000, NOW.date())
    assert run(app, NOW + timedelta(minutes=1)) == 1
    assert run(app, NOW + timedelta(minutes=2)) == 0
    smtp_server.wait_for(2)
    assert "100% of today's API calls used" in subjects(smtp_server, account.email)[1]
    assert "refused with HTTP 429" in smtp_server.messages[1].get_content()

    tomorrow = NOW + timedelta(days=1)
    factory.usage(account.tenant_id, "api_calls", 10_000, tomorrow.date())
    assert run(app, tomorrow) == 2, "a new UTC day: both thresholds again"
    assert len(smtp_server.wait_for(4)) == 4
    with app.app_context():
        periods = db.session.scalars(sa.select(UsageAlert.period).order_by(UsageAlert.period))
        assert sorted(set(periods)) == [daily_period(NOW.date()), daily_period(tomorrow.date())]


def test_a_contract_quota_and_the_free_quota_are_each_their_own_scale(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    small = factory.account("pro", overrides={"api_calls_per_day": 20})
    free = factory.account()
    quiet = factory.account()
    factory.usage(small.tenant_id, "api_calls", 16, NOW.date())
    factory.usage(free.tenant_id, "api_calls", 100, NOW.date())
    factory.usage(quiet.tenant_id, "api_calls", 79, NOW.date())
    assert run(app) == 3
    smtp_server.wait_for(3)
    assert subjects(smtp_server, small.email) == [
        "CONTINUUM: 80% of today's API calls used (16 of 20)"
    ]
    assert sorted(subjects(smtp_server, free.email)) == [
        "CONTINUUM: 100% of today's API calls used (100 of 100)",
        "CONTINUUM: 80% of today's API calls used (100 of 100)",
    ]
    assert "Pro allows 10,000 calls a day" in smtp_server.to(free.email)[0].get_content()
    assert smtp_server.to(quiet.email) == []


@pytest.mark.both_dbs
def test_spend_cap_alerts_arrive_once_per_period_at_50_80_and_100_percent(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    account, period_start = overage_account(factory)
    factory.usage(account.tenant_id, "api_calls", 10_000, NOW.date())
    assert run(app) == 2  # the daily quota's two alerts
    add_overage(account, period_start, 4_999)
    assert run(app) == 0
    add_overage(account, period_start, 1)
    assert run(app) == 1
    assert run(app) == 0
    mails = smtp_server.wait_for(3)
    cap_mail = mails[-1]
    assert cap_mail["Subject"] == "CONTINUUM: 50% of your overage spend cap used ($0.50 of $1.00)"
    body = cap_mail.get_content()
    assert "$0.50 of its $1.00 monthly overage spend cap (50%)" in body
    assert "5,000 calls past the daily quota this billing period" in body
    assert "/billing/#overage" in body and "switch it off" in body

    add_overage(account, period_start, 3_000)
    add_overage(account, period_start, 2_000)
    assert run(app) == 2, "80% and 100% together"
    assert run(app) == 0
    smtp_server.wait_for(5)
    cap_subjects = [s for s in subjects(smtp_server, account.email) if "spend cap" in s]
    assert cap_subjects == [
        "CONTINUUM: 50% of your overage spend cap used ($0.50 of $1.00)",
        "CONTINUUM: 80% of your overage spend cap used ($1.00 of $1.00)",
        "CONTINUUM: 100% of your overage spend cap used ($1.00 of $1.00)",
    ]
    assert "refused with HTTP 429 until the period renews" in smtp_server.messages[-1].get_content()
    with app.app_context():
        logged = db.session.scalars(
            sa.select(UsageAlert.alert).where(UsageAlert.period == cap_period(period_start))
        ).all()
    assert sorted(logged) == ["cap_100", "cap_50", "cap_80"]

    # The next period starts from zero: its own alerts, once each.
    with app.app_context():
        sub = db.session.scalar(
            sa.select(Subscription).where(Subscription.tenant_id == account.tenant_id)
        )
        assert sub is not None and sub.current_period_end is not None
        next_start = sub.current_period_end
        sub.current_period_start, sub.current_period_end = next_start, next_start + timedelta(30)
        db.session.commit()
    later = next_start + timedelta(hours=1)
    assert run(app, later) == 0
    with app.app_context():
        db.session.add(
            MeterReport(
                tenant_id=account.tenant_id,
                period_start=int(next_start.timestamp()),
                quantity=6_000,
                event_time=int(later.timestamp()),
            )
        )
        db.session.commit()
    factory.usage(account.tenant_id, "api_calls_overage", 6_000, later.date())
    assert run(app, later) == 1
    assert "50% of your overage spend cap" in str(smtp_server.wait_for(6)[-1]["Subject"])


def test_switched_off_alerts_are_not_sent(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    account, period_start = overage_account(factory)
    set_tenant(account, alerts_off=["daily_80", "cap_50"])
    factory.usage(account.tenant_id, "api_calls", 10_000, NOW.date())
    add_overage(account, period_start, 8_000)
    assert run(app) == 2
    smtp_server.wait_for(2)
    assert subjects(smtp_server, account.email) == [
        "CONTINUUM: 100% of today's API calls used (10,000 of 10,000)",
        "CONTINUUM: 80% of your overage spend cap used ($0.80 of $1.00)",
    ]
    assert "billed as overage" in smtp_server.messages[0].get_content()


def test_alerts_go_to_owners_and_billing_members_only(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    account = factory.account("pro")
    factory.user(account.tenant_id, "billing@example.com", role="billing")
    factory.user(account.tenant_id, "dev@example.com", role="developer")
    factory.usage(account.tenant_id, "api_calls", 8_500, NOW.date())
    assert run(app) == 1
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == f"{account.email}, billing@example.com"


@pytest.mark.both_dbs
def test_two_concurrent_passes_send_each_alert_once(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    accounts = [factory.account("pro") for _ in range(4)]
    for account in accounts:
        factory.usage(account.tenant_id, "api_calls", 10_000, NOW.date())
    start = threading.Barrier(2)
    sent: list[int] = []

    def pass_() -> None:
        start.wait()
        sent.append(run(app))

    threads = [threading.Thread(target=pass_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(sent) == 2 and sum(sent) == 8, sent
    smtp_server.wait_for(8)
    for account in accounts:
        assert len(smtp_server.to(account.email)) == 2
    assert len(smtp_server.messages) == 8


@pytest.mark.both_dbs
def test_a_restarted_process_does_not_send_again(
    smtp_server: MailSink, app: Flask, app_config: dict[str, Any], factory: Factory
) -> None:
    account = factory.account("pro")
    factory.usage(account.tenant_id, "api_calls", 9_000, NOW.date())
    assert run(app) == 1
    with app.app_context():
        db.engine.dispose()
    restarted = create_app(app_config)
    assert run(restarted, NOW + timedelta(minutes=10)) == 0
    assert len(smtp_server.wait_for(1)) == 1


@pytest.mark.both_dbs
def test_a_claim_whose_process_died_before_sending_is_taken_over(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    account = factory.account("pro")
    factory.usage(account.tenant_id, "api_calls", 9_000, NOW.date())
    with app.app_context():
        db.session.add(
            UsageAlert(
                tenant_id=account.tenant_id,
                alert="daily_80",
                period=daily_period(NOW.date()),
                created_at=NOW,
            )
        )
        db.session.commit()
    assert run(app, NOW + timedelta(seconds=30)) == 0, "a fresh claim is someone else's send"
    assert run(app, NOW + STALE_CLAIM + timedelta(seconds=1)) == 1
    assert run(app, NOW + STALE_CLAIM + timedelta(minutes=1)) == 0
    assert len(smtp_server.wait_for(1)) == 1


@pytest.mark.both_dbs
def test_a_failed_send_gives_the_claim_back_and_a_later_pass_sends(
    smtp_server: MailSink, app: Flask, factory: Factory
) -> None:
    account = factory.account("pro")
    factory.usage(account.tenant_id, "api_calls", 8_000, NOW.date())
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = 1  # nothing listens there
    assert run(app) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UsageAlert)) == 0
    app.config["SMTP_PORT"] = port
    assert run(app, NOW + timedelta(seconds=5)) == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_a_pass_reads_todays_counters_by_index_however_long_the_history(
    app: Flask, factory: Factory
) -> None:
    """Every few seconds from every process: the pass must not scan usage_counter."""
    account = factory.account("pro")
    for days in range(60):
        factory.usage(account.tenant_id, "api_calls", 9_000, NOW.date() - timedelta(days=days))
        factory.usage(account.tenant_id, "api_calls_overage", 5, NOW.date() - timedelta(days=days))
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        run(app)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    reads = [(sql, params) for sql, params in seen if "FROM usage_counter" in sql]
    assert len(reads) == 2, "one read for the quota alerts, one for the cap alerts"
    with app.app_context(), db.engine.connect() as conn:
        for sql, params in reads:
            plan = " | ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "SCAN usage_counter" not in plan, (sql, plan)
            assert "ix_usage_counter_day_metric" in plan, (sql, plan)
