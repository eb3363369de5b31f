"""``make serve``: its refusals, what wsgi.py serves, and gunicorn with two workers on a private
PostgreSQL database and Redis (pages, a Free key's 10 calls a minute across both workers, and
the usage a SIGTERM flushes)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
import requests
import sqlalchemy as sa

from portal import create_app
from portal.serving.production import (
    DEFAULT_PORT,
    Refused,
    apply_defaults,
    check,
    default_workers,
    plan,
)
from tests.conftest import private_postgres_database

ROOT = Path(__file__).resolve().parent.parent
SERVE_COMMAND = [sys.executable, "-m", "portal.serving.production"]  # what `make serve` runs
READY = {
    "SECRET_KEY": "s" * 64,
    "DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal",
    "REDIS_URL": "redis://redis.internal:6379/0",
}


# --- the refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
@pytest.mark.parametrize("value", [None, "", "  "])
def test_a_missing_setting_is_refused(missing: str, value: str | None) -> None:
    env = dict(READY)
    if value is None:
        del env[missing]
    else:
        env[missing] = value
    with pytest.raises(Refused, match=f"^{missing} is not set"):
        check(env, workers=1)


def test_sqlite_is_refused_for_several_workers_and_allowed_for_one() -> None:
    env = READY | {"DATABASE_URL": "sqlite:////srv/portal.sqlite3"}
    with pytest.raises(Refused, match="SQLite, which 2 workers cannot share"):
        check(env, workers=2)
    check(env, workers=1)


def test_in_process_rate_limits_are_refused_for_several_workers() -> None:
    env = READY | {"RATELIMIT_STORAGE_URI": "memory://"}
    with pytest.raises(Refused, match="memory://, in-process counters that 4 workers"):
        check(env, workers=4)
    check(env, workers=1)


def test_a_ready_environment_passes_and_its_limits_follow_redis() -> None:
    check(READY, workers=8)
    env = dict(READY)
    apply_defaults(env)
    assert env["RATELIMIT_STORAGE_URI"] == READY["REDIS_URL"]
    assert env["PORTAL_ENV"] == "production"
    kept = READY | {"RATELIMIT_STORAGE_URI": "redis://other:6379/1", "PORTAL_ENV": "staging"}
    blank = READY | {"PORTAL_ENV": " "}
    apply_defaults(blank)
    assert blank["PORTAL_ENV"] == "production"
    apply_defaults(kept)
    assert kept["RATELIMIT_STORAGE_URI"] == "redis://other:6379/1"
    assert kept["PORTAL_ENV"] == "staging"


def test_workers_default_to_two_per_core_and_bad_numbers_are_refused() -> None:
    assert default_workers() == 2 * (os.cpu_count() or 1)
    assert plan({}).workers == default_workers() and plan({}).port == DEFAULT_PORT
    assert plan({"WEB_CONCURRENCY": "3", "PORT": "8080", "HOST": "127.0.0.1"}) == plan(
        {"WEB_CONCURRENCY": " 3 ", "PORT": "8080", "HOST": "127.0.0.1"}
    )
    for name, raw in [("WEB_CONCURRENCY", "0"), ("WEB_CONCURRENCY", "two"), ("PORT", "70000")]:
        with pytest.raises(Refused, match=f"^{name}="):
            plan({name: raw})


def test_gunicorn_checks_the_worker_count_it_really_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """``-w`` or GUNICORN_CMD_ARGS can override WEB_CONCURRENCY; ``on_starting`` sees the real
    count and refuses before it migrates anything."""
    from portal.serving import gunicorn_conf

    for name, value in (READY | {"DATABASE_URL": "sqlite:////srv/portal.sqlite3"}).items():
        monkeypatch.setenv(name, value)
    server = SimpleNamespace(cfg=SimpleNamespace(workers=3))
    with pytest.raises(SystemExit, match="^gunicorn refused to start: DATABASE_URL is SQLite, wh"):
        gunicorn_conf.on_starting(server)


def serve_env(**settings: str) -> dict[str, str]:
    """This environment with ``settings``; an empty value stands even where .env sets one."""
    blank = (
        *("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET"),
        *("PORTAL_ENV", "GUNICORN_CMD_ARGS"),
    )
    return os.environ | dict.fromkeys(blank, "") | {"MAIL_ENABLED": "0"} | settings


def test_make_serve_refuses_in_one_line_with_a_failing_status() -> None:
    env = serve_env(**(READY | {"SECRET_KEY": ""}))
    done = subprocess.run(SERVE_COMMAND, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    reason = "SECRET_KEY is not set; make serve needs it in the environment."
    assert done.stderr.splitlines() == [f"make serve refused to start: {reason}"]


@pytest.mark.parametrize(("flag", "api_status"), [("", 404), ("0", 404), ("1", 401)])
def test_the_example_api_is_served_only_when_asked(
    flag: str, api_status: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the flag /api/memories is the portal's 404; with it, the API asks for a key."""
    from werkzeug.test import Client

    from portal.enforcement import enforcement_for
    from portal.extensions import db

    env = {"SECRET_KEY": "s" * 64, "DATABASE_URL": f"sqlite:///{tmp_path}/p.sqlite3"}
    # No reporter thread: this app's database is never migrated, and a served app (TESTING
    # off) would start one with its first request, to fail on every pass after the test.
    env |= {"METER_REPORTER_ENABLED": "0"}
    for name, value in (env | {"REDIS_URL": "", "SERVE_EXAMPLE_API": flag}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "wsgi", raising=False)
    import wsgi

    try:
        assert (wsgi.application is wsgi.app) == (api_status == 404)
        assert Client(wsgi.application).get("/api/memories").status_code == api_status
        assert "meter_reporter" not in wsgi.app.extensions
    finally:
        enforcement_for(wsgi.app).stop()
        with wsgi.app.app_context():
            db.engine.dispose()


# --- gunicorn, two workers, PostgreSQL and Redis ---------------------------------------------


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A private PostgreSQL database with no tables: ``make serve`` migrates it."""
    with private_postgres_database("continuum_serve") as url:
        yield url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix for this test's counters in the test Redis database, deleted afterwards."""
    prefix = f"test:serve:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_key(database_url: str) -> tuple[int, str]:
    """A new Free tenant (through sign-up) and an API key for it: (tenant id, raw key)."""
    from portal.auth.accounts import sign_up
    from portal.enforcement import enforcement_for
    from portal.extensions import db
    from portal.keys.api_keys import create_api_key

    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": ""}
    app = create_app(config | {"MAIL_ENABLED": False})
    with app.app_context():
        user = sign_up(f"serve-{uuid.uuid4().hex[:8]}@example.com", "violet harbour lantern 42")
        tenant = user.tenant
        _, raw = create_api_key(tenant, "serve test")
        tenant_id = tenant.id
        db.session.remove()
        db.engine.dispose()
    enforcement_for(app).stop()
    return tenant_id, raw


def wait_until_serving(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"make serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            # Once gunicorn listens, a request waits in its backlog until a worker has booted.
            requests.get(f"{url}/login", timeout=max(1.0, deadline - time.monotonic()))
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"make serve did not answer within 25 s:\n{log.read_text()}")


def raw_call(connection: socket.socket, port: int, key: str) -> int:
    """Send one GET /api/memories on an open connection; returns the status code."""
    request = (
        f"GET /api/memories HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    connection.sendall(request.encode())
    status_line = connection.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def eleven_calls(url: str, port: int, key: str) -> list[int]:
    """Eleven calls, made so that both workers serve some: an idle connection holds the worker
    that accepts it (a sync worker serves one connection at a time), so calls 1-5 go to the
    other one; call 6 is then sent on the held connection, and 7-11 go to either."""
    headers = {"Authorization": f"Bearer {key}"}
    statuses = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        for _ in range(5):
            statuses.append(requests.get(f"{url}/api/memories", headers=headers).status_code)
        statuses.append(raw_call(held, port, key))
    for _ in range(5):
        statuses.append(requests.get(f"{url}/api/memories", headers=headers).status_code)
    return statuses


def api_calls_in_sql(database_url: str, tenant_id: int) -> dict[str, int]:
    engine = sa.create_engine(database_url)
    query = sa.text("SELECT metric, value FROM usage_counter WHERE tenant_id = :tenant")
    with engine.connect() as connection:
        rows = connection.execute(query, {"tenant": tenant_id}).all()
    engine.dispose()
    return {metric: int(value) for metric, value in rows}


@pytest.mark.redis
def test_make_serve_with_two_workers_on_postgres_and_redis(
    empty_postgres: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = serve_env(
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=empty_postgres,
        REDIS_URL=redis_url,
        ENFORCEMENT_REDIS_PREFIX=redis_prefix,
        WEB_CONCURRENCY="2",
        HOST="127.0.0.1",
        PORT=str(port),
        SERVE_EXAMPLE_API="1",
        RATELIMIT_STORAGE_URI="",
        # Only the flush at shutdown can write usage before an hour has passed.
        USAGE_FLUSH_SECONDS="3600",
        METRICS_TOKEN="metrics-token-for-the-test",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            SERVE_COMMAND,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(url, server, log)
        login = requests.get(f"{url}/login", timeout=5)
        assert login.status_code == 200 and 'name="csrf_token"' in login.text
        assert "Strict-Transport-Security" in login.headers  # PORTAL_ENV defaults to production
        assert requests.get(f"{url}/signup", timeout=5).status_code == 200
        assert requests.get(f"{url}/static/vendor/htmx.min.js", timeout=5).status_code == 200
        assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok"}

        # A fresh tenant per try: eleven calls that straddle a minute boundary prove nothing.
        admitted: dict[int, int] = {}
        for _ in range(3):
            tenant_id, key = free_key(empty_postgres)
            minute = int(time.time()) // 60
            statuses = eleven_calls(url, port, key)
            admitted[tenant_id] = statuses.count(200)
            if int(time.time()) // 60 == minute:
                break
        assert statuses == [200] * 10 + [429]
        # /metrics adds up both workers (multiprocess mode): every one of the last 11 calls.
        scrape = requests.get(
            f"{url}/metrics",
            headers={"Authorization": "Bearer metrics-token-for-the-test"},
            timeout=5,
        )
        assert scrape.status_code == 200
        assert 'continuum_rate_limited_total{limit="minute",tier="free"} ' in scrape.text
        answered = sum(
            float(line.rsplit(" ", 1)[1])
            for line in scrape.text.splitlines()
            if line.startswith("continuum_api_calls_total{")
        )
        assert answered >= 11

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=25) == 0, log.read_text()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        try:
            os.killpg(server.pid, signal.SIGKILL)  # a worker the master left behind
        except ProcessLookupError:
            pass

    served_by = set(re.findall(r'"GET /api/memories HTTP/1\.1" \d+ .*<(\d+)>', log.read_text()))
    assert len(served_by) == 2, log.read_text()
    for tenant_id, count in admitted.items():
        assert api_calls_in_sql(empty_postgres, tenant_id).get("api_calls") == count
