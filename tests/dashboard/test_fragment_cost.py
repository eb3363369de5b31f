"""The polled usage fragment stays cheap: a few indexed reads, however much history there is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import UsageCounter
from tests.factory import Factory


def fragment_statements(app: Flask, client: FlaskClient) -> list[tuple[str, Any]]:
    """Every SQL statement (with its parameters) run while serving one poll of the fragment."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        response = client.get("/dashboard/usage-bars", headers={"HX-Request": "true"})
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert response.status_code == 200
    return seen


def add_history(app: Flask, tenant_id: int, days: int) -> None:
    """``days`` days of per-endpoint counters, the kind of rows a busy tenant accumulates."""
    today = datetime.now(UTC).date()
    metrics = ["api_calls"] + [f"api_calls:/api/route{n}" for n in range(10)]
    with app.app_context():
        db.session.add_all(
            UsageCounter(tenant_id=tenant_id, metric=metric, day=today - timedelta(n), value=n)
            for n in range(days)
            for metric in metrics
        )
        db.session.commit()


def test_the_fragment_reads_counters_by_index_and_not_more_as_history_grows(
    app: Flask, factory: Factory
) -> None:
    acme = factory.account("pro", name="Acme")
    client = acme.client
    add_history(app, acme.tenant_id, 3)
    add_history(app, factory.tenant("Other"), 3)
    few = fragment_statements(app, client)
    with app.app_context():
        db.session.execute(sa.delete(UsageCounter))
        db.session.commit()
    add_history(app, acme.tenant_id, 120)
    many = fragment_statements(app, client)
    assert len(many) == len(few) <= 3
    counter_reads = [(sql, params) for sql, params in many if "usage_counter" in sql]
    assert counter_reads, "the fragment reads the aggregated counters"
    with app.app_context(), db.engine.connect() as conn:
        for sql, params in counter_reads:
            plan = " | ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "SCAN usage_counter" not in plan, (sql, plan)
            assert "USING PRIMARY KEY" in plan or "USING INDEX" in plan, (sql, plan)


@pytest.mark.both_dbs
def test_the_fragment_of_a_pro_tenant_with_overage_runs_three_queries(
    app: Flask, factory: Factory, db_backend: str
) -> None:
    """The signed-in user (with its tenant), the subscription, and one SELECT of every sum:
    the overage card's come from the outbox's running total, whatever the outbox holds."""
    from tests.dashboard.test_overage_card import overage_on, report

    account, start, _ = overage_on(factory)
    add_history(app, account.tenant_id, 40)
    for minutes in range(50):
        report(account, start, 7, datetime.now(UTC) - timedelta(minutes=minutes))
    statements = fragment_statements(app, account.client)
    assert len(statements) <= 3, [sql for sql, _ in statements]
    assert not any("meter_report" in sql for sql, _ in statements)
    html = account.client.get("/dashboard/usage-bars", headers={"HX-Request": "true"}).text
    assert "350" in html  # 50 rows of 7 overage calls, from the running total


@pytest.mark.both_dbs
def test_the_guide_and_chart_poll_of_a_pro_tenant_runs_three_queries_too(
    app: Flask, factory: Factory, db_backend: str
) -> None:
    """A new Pro tenant's dashboard shows the first-run guide, whose ticks the poll moves:
    the guide's reads ride along the same SELECT, so the poll stays at three queries."""
    from tests.dashboard.test_chart_when_changed import poll_url
    from tests.dashboard.test_overage_card import overage_on

    account, _, _ = overage_on(factory)
    url = poll_url(account.client.get("/").get_data(as_text=True))
    assert "guide=1" in url
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        response = account.client.get(
            url.replace("chart=", "chart=x"), headers={"HX-Request": "true"}
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert response.status_code == 200
    assert 'id="first-run"' in response.text and 'id="trend-chart"' in response.text
    assert len(seen) <= 3, seen
