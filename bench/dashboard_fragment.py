"""(f) The dashboard under a full database: the polled usage fragment, ``/`` and ``/usage``.

Seeds 10,000 tenants × 90 days × 4 metrics of ``usage_counter`` rows (3.6 million), a storage
row per tenant, and one Pro tenant with overage on (and the API key its calls come with, so
its dashboard is past the first-run guide) whose outbox holds a row every 10 s for the
last 7 days (60,480 rows: what the usage flush writes for a tenant in overage all week). Then
signs that tenant's owner in and times each page in the server (a WSGI wrapper around the app:
from the call until the last byte of the body), interleaved, and prints p50 and p95.

The fragment is polled as the browser polls it: at the URL the previous answer named (its
``hx-get``, which carries the key of the chart the page shows, so an unchanged chart is not
sent again). "fragment, chart redrawn" polls without that key: what a poll costs when the
chart changed since the last one (a tenant whose calls move today's bar between two polls).

On SQLite always; on PostgreSQL too when ``TEST_POSTGRES_URL``'s server answers (a database of
its own, dropped at the end).

    .venv/bin/python -m bench.dashboard_fragment
"""

from __future__ import annotations

import html
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.harness import bench_config, throwaway_database
from bench.webhook_intake import postgres_database
from portal import create_app
from portal.auth.sessions import SEEN_AT, SIGNED_IN_AT
from portal.billing.overage import usage_period
from portal.extensions import db
from portal.models import (
    ApiKey,
    Membership,
    MeterReport,
    StorageUsage,
    Subscription,
    Tenant,
    UsageCounter,
    User,
)

TENANTS = 10_000
DAYS = 90
METRICS = ("api_calls", "api_calls_overage", "api_calls:/v1/memories", "api_calls:/v1/search")
OUTBOX_EVERY_SECONDS = 10
OUTBOX_DAYS = 7
ROUNDS = 300
GOAL_P95_MS = 5.0
FRAGMENT = "/dashboard/usage-bars"
PAGES = {
    "fragment": FRAGMENT,
    "fragment, chart redrawn": FRAGMENT,
    "/": "/",
    "/usage": "/usage",
}
#: The pages polled with htmx's header.
FRAGMENTS = ("fragment", "fragment, chart redrawn")
_POLL_URL = re.compile(r'<div id="usage-bars"[^>]*?hx-get="([^"]+)"')


def next_poll(body: str) -> str:
    """The URL the page or fragment ``body`` tells htmx to poll next."""
    found = _POLL_URL.search(body)
    assert found, "no usage-bars poll in the page"
    return html.unescape(found.group(1))


def numbers(count: int) -> Any:
    """A CTE of the whole numbers 1..count (recursive: both databases have it)."""
    start = sa.select(sa.literal(1, sa.Integer).label("i")).cte("n", recursive=True)
    return start.union_all(sa.select(start.c.i + 1).where(start.c.i < count))


def constants(name: str, column: str, values: Iterable[Any], kind: Any) -> Any:
    return sa.union_all(
        *(
            sa.select(sa.literal(value, kind).label(column), sa.literal(k, sa.Integer).label("k"))
            for k, value in enumerate(values)
        )
    ).cte(name)


def seed(app: Flask) -> int:
    """The rows above; returns the measured owner's user id."""
    now = datetime.now(UTC)
    today = now.date()
    with app.app_context():
        n = numbers(TENANTS)
        tenant = Tenant.__table__
        db.session.execute(
            tenant.insert().from_select(
                ["id", "name", "tier", "tier_version", "overage_enabled", "overage_cap_cents"]
                + ["created_at", "updated_at"],
                sa.select(
                    n.c.i,
                    sa.literal("Tenant ") + sa.cast(n.c.i, sa.String),
                    sa.literal("free"),
                    sa.literal(1),
                    sa.false(),
                    sa.literal(2000),
                    sa.literal(now, Tenant.created_at.type),
                    sa.literal(now, Tenant.created_at.type),
                ),
            )
        )
        days = constants("days", "day", (today - timedelta(d) for d in range(DAYS)), sa.Date)
        metrics = constants("metrics", "metric", METRICS, sa.String)
        n = numbers(TENANTS)
        value = (n.c.i * 7 + days.c.k * 13 + metrics.c.k * 101) % 5000
        every_row = sa.select(n.c.i, metrics.c.metric, days.c.day, value).join_from(
            n, days, sa.true()
        )
        db.session.execute(
            UsageCounter.__table__.insert().from_select(
                ["tenant_id", "metric", "day", "value"],
                every_row.join_from(days, metrics, sa.true()),
            )
        )
        n = numbers(TENANTS)
        db.session.execute(
            StorageUsage.__table__.insert().from_select(
                ["tenant_id", "memories", "embeddings", "bytes_used", "updated_at"],
                sa.select(
                    n.c.i,
                    n.c.i % 900,
                    n.c.i % 700,
                    n.c.i * 1000,
                    sa.literal(now, StorageUsage.updated_at.type),
                ),
            )
        )
        measured = db.session.get(Tenant, 1)
        assert measured is not None
        measured.tier, measured.overage_enabled = "pro", True
        sub = Subscription(
            tenant_id=1,
            stripe_subscription_id="sub_bench",
            status="active",
            price_lookup_key="continuum_pro_monthly",
            tier="pro",
            interval="month",
            current_period_start=now - timedelta(days=10),
            current_period_end=now + timedelta(days=20),
        )
        db.session.add(sub)
        user = User(email="bench@example.com", password_hash="bench-not-a-real-hash")
        db.session.add(user)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, tenant_id=1, role="owner"))
        db.session.add(
            ApiKey(
                tenant_id=1,
                name="Production",
                prefix="ck_bench",
                key_hash="0" * 64,
                last_used_at=now,
                created_by_id=user.id,
            )
        )
        start, _ = usage_period(sub, now)
        rows = OUTBOX_DAYS * 86_400 // OUTBOX_EVERY_SECONDS
        n = numbers(rows)
        first = int(now.timestamp()) - rows * OUTBOX_EVERY_SECONDS
        db.session.execute(
            MeterReport.__table__.insert().from_select(
                ["tenant_id", "period_start", "quantity", "event_time", "created_at", "attempts"],
                sa.select(
                    sa.literal(1),
                    sa.literal(int(start.timestamp()), sa.BigInteger),
                    n.c.i % 7 + 1,
                    sa.literal(first, sa.BigInteger) + n.c.i * OUTBOX_EVERY_SECONDS,
                    sa.literal(now, MeterReport.created_at.type),
                    sa.literal(0),
                ),
            )
        )
        db.session.commit()
        counted = db.session.scalar(sa.select(sa.func.count()).select_from(UsageCounter))
        assert counted == TENANTS * DAYS * len(METRICS), counted
        return user.id


class ServerTimer:
    """WSGI middleware: the time from the call until the body is fully produced, by the wall
    clock and in the serving thread's CPU time."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.last = self.last_cpu = 0.0

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        started, cpu = time.perf_counter(), time.thread_time()
        body = list(self.app(environ, start_response))
        self.last = time.perf_counter() - started
        self.last_cpu = time.thread_time() - cpu
        return body


def signed_in_client(app: Flask, user_id: int) -> Any:
    """A test client signed in as ``user_id``, as the portal signs people in."""
    client = app.test_client()
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        session_id = user.get_id()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
        # What portal.auth.sessions stamps at sign-in (a session without them is signed out).
        session[SIGNED_IN_AT] = session[SEEN_AT] = int(time.time())
    return client


def measure(app: Flask, user_id: int) -> dict[str, list[float]]:
    timer = ServerTimer(app.wsgi_app)
    app.wsgi_app = timer  # type: ignore[method-assign]
    client = signed_in_client(app, user_id)
    headers = {"HX-Request": "true"}
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    times.update({f"{name} (CPU)": [] for name in PAGES})
    for _ in range(20):  # warm: caches, the connection pool, templates
        for path in PAGES.values():
            client.get(path, headers=headers)
    polled = next_poll(client.get("/").get_data(as_text=True))
    for _ in range(ROUNDS):
        for name, path in PAGES.items():
            if name == "fragment":
                path = polled
            response = client.get(path, headers=headers if name in FRAGMENTS else {})
            assert response.status_code == 200, (path, response.status_code)
            if name == "fragment":
                polled = next_poll(response.get_data(as_text=True))
            times[name].append(timer.last * 1000)
            times[f"{name} (CPU)"].append(timer.last_cpu * 1000)
    paths = {
        name: (polled if name == "fragment" else path, headers if name in FRAGMENTS else {})
        for name, path in PAGES.items()
    }
    count_trips(app, client, paths)
    return times


def count_trips(app: Flask, client: Any, paths: dict[str, tuple[str, dict[str, str]]]) -> None:
    """Print each page's queries (SQLAlchemy's statements) and, on PostgreSQL, its round trips
    on the wire: every simple-protocol ``Query`` and extended-protocol ``Sync`` libpq sends
    (its trace), the pool's ping and BEGIN/ROLLBACK included."""
    with app.app_context():
        engine = db.engine
    postgres = engine.dialect.name == "postgresql"
    fd, name = tempfile.mkstemp(prefix="bench-pq-trace-")
    statements: list[str] = []

    def trace(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.pgconn.trace(fd)

    def capture(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    if postgres:
        engine.dispose()  # new connections, traced
        sa.event.listen(engine, "connect", trace)
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        for label, (path, headers) in paths.items():
            client.get(path, headers=headers)  # a connection made, if needed
            statements.clear()
            start = os.fstat(fd).st_size
            client.get(path, headers=headers)
            with open(name, "rb") as traced:
                traced.seek(start)
                sent = [line.split(b"\t") for line in traced.read().splitlines()]
            trips = sum(1 for f in sent if len(f) > 3 and f[1] == b"F" and f[3] in TRIPS)
            wire = f", {trips} round trips to PostgreSQL" if postgres else ""
            print(f"(f) {label}: {len(statements)} queries{wire}", flush=True)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
        if postgres:
            sa.event.remove(engine, "connect", trace)
            engine.dispose()
        os.close(fd)
        os.unlink(name)


#: The messages after which libpq waits for the server (one round trip each).
TRIPS = (b"Query", b"Sync")


def report(label: str, times: dict[str, list[float]]) -> None:
    for name, samples in times.items():
        ordered = sorted(samples)
        p50 = statistics.median(ordered)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        goal = f" (goal p95 <= {GOAL_P95_MS:g} ms)" if name.startswith("fragment") else ""
        print(f"(f) {label}, {name}: p50 {p50:.2f} ms, p95 {p95:.2f} ms{goal}", flush=True)


def run(label: str, url: str) -> None:
    app = create_app(bench_config(url, METER_REPORTER_ENABLED=False))
    started = time.perf_counter()
    user_id = seed(app)
    print(
        f"(f) {label}: seeded {TENANTS:,} tenants × {DAYS} days × {len(METRICS)} metrics in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    settle(app)
    report(label, measure(app, user_id))
    with app.app_context():
        db.engine.dispose()


def settle(app: Flask) -> None:
    """Bring the freshly seeded database to a production steady state before timing: planner
    statistics, and on PostgreSQL a vacuumed visibility map (what autovacuum would have done
    long ago on a real database; left to itself, it starts on the 3.6 million new rows in the
    middle of the timed rounds)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM (ANALYZE)"))
                conn.execute(sa.text("CHECKPOINT"))
        else:
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))


def main() -> None:
    run("SQLite", throwaway_database())
    with postgres_database() as url:
        if url is None:
            print("(f) PostgreSQL: skipped (PostgreSQL not reachable)")
            return
        from flask_migrate import upgrade

        app = create_app(bench_config(url))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        run("PostgreSQL", url)


if __name__ == "__main__":
    main()
