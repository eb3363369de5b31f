"""Several processes on one Redis, kill -9 and graceful stops: admitted == limit == recorded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from portal.enforcement import Enforcement
from portal.models import ApiKey, UsageCounter
from tests.enforcement.support import START
from tests.factory import Account

ROOT = Path(__file__).resolve().parents[2]


def api_calls_in_sql(enforcement: Enforcement, tenant_id: int) -> int:
    query = sa.select(UsageCounter.value).where(
        UsageCounter.tenant_id == tenant_id, UsageCounter.metric == "api_calls"
    )
    with enforcement.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


class Worker:
    """``tests/enforcement/worker.py`` in a process of its own; ``Worker(spec)`` returns once
    it is ready (``start`` several, then ``ready`` each: they import the portal in parallel)."""

    def __init__(self, spec: dict[str, Any], *, wait: bool = True) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.enforcement.worker", json.dumps(spec)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if wait:
            self.ready()

    @classmethod
    def start(cls, spec: dict[str, Any], count: int) -> list[Worker]:
        workers = [cls(spec, wait=False) for _ in range(count)]
        for worker in workers:
            worker.ready()
        return workers

    def ready(self) -> None:
        assert self.process.stdout is not None and self.process.stdout.readline() == "ready\n"

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def statuses(self) -> dict[str, int]:
        assert self.process.stdout is not None
        result: dict[str, int] = json.loads(self.process.stdout.readline())
        return result

    def finish(self) -> None:
        self.process.communicate("stop\n", timeout=30)
        assert self.process.returncode == 0


def worker_config(app_config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keys = (
        "SQLALCHEMY_DATABASE_URI",
        "REDIS_URL",
        "ENFORCEMENT_REDIS_PREFIX",
        "ENFORCEMENT_REDIS_TIMEOUT",
    )
    return {key: app_config[key] for key in keys if key in app_config} | extra


@pytest.fixture
def redis_config(app_config: dict[str, Any], redis_settings: dict[str, Any]) -> dict[str, Any]:
    app_config.update(redis_settings)
    return app_config


def test_four_processes_of_eight_threads_admit_exactly_the_limit(
    redis_config: dict[str, Any],
    enforcement: Enforcement,
    make_account: Callable[..., Account],
) -> None:
    limit = 150
    overrides = {"api_calls_per_minute": limit, "concurrent_requests": 1000}
    account = make_account("enterprise", overrides)
    spec = {
        "config": worker_config(redis_config),
        "key": account.key,
        "threads": 8,
        "calls": 10,
        "now": START,
    }
    workers = Worker.start(spec, 4)
    for worker in workers:
        worker.go()
    results = [worker.statuses() for worker in workers]
    for worker in workers:
        worker.finish()
    admitted = sum(result.get("200", 0) for result in results)
    refused = sum(result.get("429", 0) for result in results)
    assert (admitted, refused) == (limit, 4 * 8 * 10 - limit)
    assert sum(1 for result in results if result.get("200")) >= 2  # they really competed
    enforcement.flusher.flush()
    assert api_calls_in_sql(enforcement, account.tenant_id) == limit


def test_kill_9_in_redis_mode_loses_no_usage(
    redis_config: dict[str, Any],
    enforcement: Enforcement,
    make_account: Callable[..., Account],
) -> None:
    account = make_account("enterprise", {"api_calls_per_minute": 10**6})
    config = worker_config(redis_config, USAGE_FLUSH_SECONDS=3600)
    spec = {"config": config, "key": account.key, "threads": 8, "calls": 10**6, "now": START}
    worker = Worker(spec)
    enforcement.clock = lambda: START
    worker.go()
    deadline = time.monotonic() + 30
    while enforcement.live_counts(account.tenant_id).minute < 100:  # well under way
        assert time.monotonic() < deadline, "the worker made no calls"
        time.sleep(0.02)
    worker.process.send_signal(signal.SIGKILL)  # mid-request, mid-everything
    worker.process.wait(timeout=10)
    counts = enforcement.live_counts(account.tenant_id)
    assert counts.minute > 0 and counts.concurrent <= 8
    enforcement.flusher.flush()
    assert api_calls_in_sql(enforcement, account.tenant_id) == counts.minute
    # The slots its requests held expire with their leases.
    enforcement.clock = lambda: START + enforcement.lease_seconds
    assert enforcement.live_counts(account.tenant_id).concurrent == 0


def test_a_flusher_killed_between_commit_and_ack_gets_its_batch_counted_once(
    redis_config: dict[str, Any],
    enforcement: Enforcement,
    make_account: Callable[..., Account],
) -> None:
    account = make_account("enterprise", {"api_calls_per_minute": 10**6})
    config = worker_config(redis_config, USAGE_FLUSH_SECONDS=3600)
    spec = {"config": config, "key": account.key, "threads": 2, "calls": 20, "now": START}
    spec["die_after_commit"] = True
    worker = Worker(spec)
    worker.go()
    assert worker.statuses() == {"200": 40}
    assert worker.process.wait(timeout=30) == -signal.SIGKILL
    assert api_calls_in_sql(enforcement, account.tenant_id) == 40  # committed, never acked
    store = enforcement.store.primary  # type: ignore[attr-defined]
    client, batches = store.client, f"{redis_config['ENFORCEMENT_REDIS_PREFIX']}usage:batches"
    claimed = client.zrange(batches, 0, -1)
    assert len(claimed) == 1 and client.exists(claimed[0])
    client.zadd(batches, {claimed[0]: 0})  # its claim is now older than STALE_BATCH_SECONDS
    enforcement.flusher.flush()  # retakes the batch, finds it in the ledger, acknowledges it
    assert client.zcard(batches) == 0 and not client.exists(claimed[0])
    assert api_calls_in_sql(enforcement, account.tenant_id) == 40


def test_kill_9_in_embedded_mode_loses_at_most_one_flush_interval(
    app_config: dict[str, Any],
    enforcement: Enforcement,
    make_account: Callable[..., Account],
) -> None:
    account = make_account("pro")
    config = worker_config(app_config, USAGE_FLUSH_SECONDS=0.2)
    worker = Worker(
        {"config": config, "key": account.key, "threads": 4, "calls": 5, "linger": True}
    )
    worker.go()
    admitted = worker.statuses()["200"]
    time.sleep(0.6)  # more than one flush interval after the last call
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=10)
    assert api_calls_in_sql(enforcement, account.tenant_id) == admitted == 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def key_last_used(enforcement: Enforcement, key_id: int) -> Any:
    with enforcement.engine.connect() as connection:
        return connection.scalar(sa.select(ApiKey.last_used_at).where(ApiKey.id == key_id))


def test_the_standalone_example_flushes_at_a_graceful_stop(
    app_config: dict[str, Any],
    enforcement: Enforcement,
    make_account: Callable[..., Account],
) -> None:
    """SIGTERM: the atexit flush writes the usage and the key's last-used time, which no
    later request was there to carry."""
    account = make_account("pro")
    port = free_port()
    env = os.environ | {
        # The script's own directory leads its sys.path: this checkout's portal must come next.
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": "",
        "USAGE_FLUSH_SECONDS": "3600",
        "API_KEY_LAST_USED_FLUSH_SECONDS": "3600",
        "API_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "examples/continuum_api.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{url}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the example API did not start"
                time.sleep(0.1)
        for _ in range(6):
            assert requests.get(f"{url}/api/memories", headers=account.headers).ok
        assert api_calls_in_sql(enforcement, account.tenant_id) == 0
        assert key_last_used(enforcement, account.key_id) is None
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()
    assert api_calls_in_sql(enforcement, account.tenant_id) == 6
    assert key_last_used(enforcement, account.key_id) is not None
