"""The usage page's outcome table reads the month's counters in one grouped query and gives
the same figures as asking the enforcement runtime endpoint by endpoint (flushed plus pending)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.dashboard.outcomes import month_outcomes
from portal.enforcement import current_enforcement
from portal.enforcement.lifecycle import OUTCOMES, endpoint_outcomes
from portal.enforcement.metering import date_to_day
from portal.extensions import db
from tests.factory import Factory

ROUTES = ("/api/memories", "/api/federation", "/api/search")


@pytest.mark.both_dbs
def test_one_grouped_read_gives_the_runtime_figures(
    app: Flask, factory: Factory, db_backend: str
) -> None:
    acme = factory.account("pro", name="Acme")
    other = factory.tenant("Other")
    today = datetime.now(UTC).date()
    earlier = today - timedelta(days=40)  # last month or before: not counted
    for n, route in enumerate(ROUTES, start=1):
        factory.usage(acme.tenant_id, f"api_calls:{route}", 100 * n)
        factory.usage(acme.tenant_id, f"api_calls:{route}", 9, day=earlier)
        factory.usage(acme.tenant_id, f"outcome:client_error:{route}", 4 * n)
        factory.usage(acme.tenant_id, f"outcome:refused_rate_limit:{route}", 7)
        factory.usage(other, f"api_calls:{route}", 55)
    factory.usage(acme.tenant_id, "outcome:refused_plan:/api/plan-only", 3)
    with app.app_context():
        store = current_enforcement().store
        store.add_usage(acme.tenant_id, "api_calls:/api/memories", date_to_day(today), 11)
        store.add_usage(acme.tenant_id, "outcome:server_error:/api/search", date_to_day(today), 5)

    statements: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", capture)
        try:
            rows = month_outcomes(db.session(), acme.tenant_id, today)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", capture)
        assert len(statements) == 1, statements
        first, last = date_to_day(today.replace(day=1)), date_to_day(today)
        expected = {
            route: endpoint_outcomes(current_enforcement(), acme.tenant_id, route, first, last)
            for route in (*ROUTES, "/api/plan-only")
        }
    assert {row.endpoint: row.counts for row in rows} == expected
    assert [row.endpoint for row in rows][0] == "/api/search"  # busiest first
    memories = next(row for row in rows if row.endpoint == "/api/memories").counts
    assert memories["succeeded"] == 100 + 11 - 4
    assert set(memories) == set(OUTCOMES)
    search = next(row for row in rows if row.endpoint == "/api/search").counts
    assert search["server_error"] == 5


@pytest.mark.both_dbs
def test_the_usage_page_queries_do_not_grow_with_endpoints(
    app: Flask, factory: Factory, db_backend: str
) -> None:
    acme = factory.account("pro", name="Acme")
    acme.client.get("/usage")  # the first request's one-off reads out of the way
    counts = []
    for route in ROUTES:
        factory.usage(acme.tenant_id, f"api_calls:{route}", 10)
        factory.usage(acme.tenant_id, f"outcome:client_error:{route}", 1)
        seen: list[str] = []

        def capture(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement)  # noqa: B023 - read before the next loop

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            assert acme.client.get("/usage").status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        counts.append(len(seen))
    assert counts[0] == counts[-1], counts
