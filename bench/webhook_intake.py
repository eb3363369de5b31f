"""(g) Webhook intake: signed events a second through ``POST /billing/webhook``.

In process on SQLite (Flask test client, one thread): first deliveries, then the same events
again (duplicates). Then, when PostgreSQL answers at ``TEST_POSTGRES_URL``'s server, the same
first deliveries over HTTP to ``make serve``'s entry point (gunicorn, 2 workers) on a fresh
PostgreSQL database, from 8 client threads (Redis at ``BENCH_REDIS_URL``, default DB 15).

The in-process rates are printed twice: by the wall clock (the goal), and per second of the
process's own CPU time, which is what the intake costs when the machine's other jobs are left
out (on a 2-core machine shared with other work the wall-clock figure follows the load).

The events are ``invoice.finalized`` for a customer the portal knows: verified, looked up
(processed already? the customer's tenant: one read), claimed in ``stripe_event``, the invoice
written to the local mirror, marked processed, committed. On PostgreSQL that is four statements
and one commit per delivery, plus the pool's pre-ping and the driver's BEGIN: seven round trips.
They call no Stripe API (nothing in that handler re-fetches), so the figure is the portal's
intake, not the simulator's speed. A duplicate is the signature check and the one read.

Under the PostgreSQL line, where a delivery's time goes in each worker: its CPU, and the
rest, off CPU (waiting for PostgreSQL's round trips and the commit's WAL flush, for the client,
or for a core on a loaded machine), since a sync worker serves one delivery at a time; then
what one commit with its WAL flush takes on that server alone (synchronous commit stays on:
that wait is part of every first delivery).

The 1-minute load average is printed before and after: the machine is often shared, and the
wall-clock rates follow it.

    .venv/bin/python -m bench.webhook_intake
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.harness import bench_config, throwaway_database
from portal import create_app
from portal.extensions import db
from portal.models import StripeEvent, Tenant

SECRET = "whsec_bench_webhooks"
CUSTOMER = "cus_bench_webhooks"
EVENTS = 1500
HTTP_EVENTS = 3000
HTTP_CLIENTS = 8
GOALS_IN_PROCESS = (("first", "first deliveries", 500), ("duplicate", "duplicates", 1_000))
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROOT = Path(__file__).resolve().parent.parent


def invoice_event(n: int) -> bytes:
    """A signed-ready ``invoice.finalized`` body for invoice number ``n``."""
    now = int(time.time())
    invoice = {
        "id": f"in_bench_{uuid.uuid4().hex[:16]}",
        "object": "invoice",
        "customer": CUSTOMER,
        "number": f"BENCH-{n:06d}",
        "status": "open",
        "currency": "usd",
        "amount_due": 2900,
        "amount_paid": 0,
        "total": 2900,
        "created": now,
        "period_start": now,
        "period_end": now + 30 * 86400,
        "attempt_count": 0,
        "next_payment_attempt": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "status_transitions": {"paid_at": None},
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_bench"},
        },
        "lines": {"object": "list", "data": [], "has_more": False},
    }
    event = {
        "id": f"evt_bench_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": now,
        "data": {"object": invoice},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "invoice.finalized",
    }
    return json.dumps(event).encode()


def signed_headers(payload: bytes) -> dict[str, str]:
    moment = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "Stripe-Signature": f"t={moment},v1={digest.hexdigest()}",
    }


def config(url: str) -> dict[str, Any]:
    return bench_config(
        url,
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_WEBHOOK_SECRET=SECRET,
        METER_REPORTER_ENABLED=False,
    )


def add_tenant(url: str) -> None:
    app = create_app(config(url))
    with app.app_context():
        db.session.add(Tenant(name="Webhook bench", stripe_customer_id=CUSTOMER))
        db.session.commit()
        db.engine.dispose()


def in_process_sqlite() -> dict[str, float]:
    url = throwaway_database()
    add_tenant(url)
    app = create_app(config(url))
    client = app.test_client()
    bodies = [invoice_event(n) for n in range(EVENTS)]
    rates = {}
    for kind in ("first", "duplicate"):
        started, cpu = time.perf_counter(), time.process_time()
        for body in bodies:
            response = client.post("/billing/webhook", data=body, headers=signed_headers(body))
            assert response.status_code == 200, response.get_data(as_text=True)
            assert bool(response.get_json().get("duplicate")) == (kind == "duplicate")
        rates[kind] = EVENTS / (time.perf_counter() - started)
        rates[kind + "_cpu"] = EVENTS / (time.process_time() - cpu)
    with app.app_context():
        processed = db.session.scalar(
            sa.select(sa.func.count()).where(StripeEvent.processed_at.is_not(None))
        )
        assert processed == EVENTS, processed
    return rates


@contextmanager
def postgres_database() -> Iterator[str | None]:
    name = f"continuum_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        yield None
        return
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    """``make serve``'s entry point (``python -m portal.serving.production``), 2 workers."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "WEB_CONCURRENCY": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PORTAL_ENV": "production",
        "METER_REPORTER_ENABLED": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "portal.serving.production"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_up(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make serve exited with status {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/login")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("make serve did not answer in time")


def workers_cpu_seconds(master: int) -> float:
    """User + system CPU seconds of ``master``'s child processes (gunicorn's workers), from
    /proc (Linux)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # the parent pid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def post_all(port: int, bodies: list[bytes]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for body in bodies:
        conn.request("POST", "/billing/webhook", body=body, headers=signed_headers(body))
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def commit_milliseconds(url: str, commits: int = 200) -> float:
    """Wall milliseconds of one one-row INSERT and its COMMIT (WAL flush) on ``url``'s server."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE TABLE bench_commit_probe (n integer)"))
            conn.commit()
            started = time.perf_counter()
            for n in range(commits):
                conn.execute(sa.text("INSERT INTO bench_commit_probe VALUES (:n)"), {"n": n})
                conn.commit()
            return (time.perf_counter() - started) * 1000 / commits
    finally:
        engine.dispose()


def http_postgres() -> tuple[float, float, float] | None:
    with postgres_database() as url:
        if url is None:
            return None
        port = free_port()
        process = serve(url, port)
        try:
            wait_until_up(port, process)
            add_tenant(url)
            bodies = [invoice_event(n) for n in range(HTTP_EVENTS)]
            shares = [bodies[i::HTTP_CLIENTS] for i in range(HTTP_CLIENTS)]
            post_all(port, [invoice_event(-1)])  # each worker warm
            threads = [threading.Thread(target=post_all, args=(port, share)) for share in shares]
            started, cpu = time.perf_counter(), workers_cpu_seconds(process.pid)
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            cpu = workers_cpu_seconds(process.pid) - cpu
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                processed = conn.scalar(
                    sa.text("SELECT count(*) FROM stripe_event WHERE processed_at IS NOT NULL")
                )
            engine.dispose()
            assert processed == HTTP_EVENTS + 1, processed
            rate = HTTP_EVENTS / elapsed
            return rate, HTTP_EVENTS / cpu if cpu > 0 else 0.0, commit_milliseconds(url)
        finally:
            process.terminate()
            process.wait(30)


def main() -> None:
    load_before = os.getloadavg()[0]
    rates = in_process_sqlite()
    for kind, label, goal in GOALS_IN_PROCESS:
        print(
            f"(g) SQLite, in process, {label}: {rates[kind]:,.0f} /s (goal >= {goal:,}); "
            f"per second of this process's CPU: {rates[kind + '_cpu']:,.0f} /s"
        )
    http_rates = http_postgres()
    if http_rates is None:
        print("(g) PostgreSQL over HTTP: skipped (PostgreSQL not reachable)")
    else:
        print(
            f"(g) PostgreSQL, make serve, 2 workers, {HTTP_CLIENTS} HTTP clients, first "
            f"deliveries: {http_rates[0]:,.0f} /s (goal >= 300); per second of the workers' "
            f"CPU: {http_rates[1]:,.0f} /s"
        )
        wall_ms, cpu_ms = 2 * 1000 / http_rates[0], 1000 / http_rates[1] if http_rates[1] else 0
        print(
            f"(g)   per delivery in a worker (2 workers, one delivery at a time each): "
            f"{wall_ms:.1f} ms, of which {cpu_ms:.1f} ms its CPU and {wall_ms - cpu_ms:.1f} ms "
            f"off CPU; one INSERT + COMMIT (WAL flush) alone on that server: "
            f"{http_rates[2]:.1f} ms"
        )
    print(f"(g) load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
