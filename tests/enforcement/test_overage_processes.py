"""Overage across processes on one Redis: never a call past the cap, and the outbox records
exactly what was billed, a flusher killed between its commit and acknowledgement included."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from portal.enforcement import Enforcement
from tests.enforcement.support import PERIOD, START, outbox, pro_account, sql_counter
from tests.enforcement.test_processes import Worker, worker_config
from tests.factory import Factory


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_settings: dict[str, Any]) -> dict[str, Any]:
    app_config.update(redis_settings)
    return app_config


def test_four_processes_of_eight_threads_never_pass_the_cap(
    app_config: dict[str, Any], enforcement: Enforcement, factory: Factory
) -> None:
    quota, allowance = 50, 300
    account = pro_account(factory, per_day=quota, cap_cents=3)  # 3 cents buy 300 calls
    spec = {"config": worker_config(app_config), "key": account.key, "threads": 8, "calls": 20}
    spec["now"] = START
    workers = Worker.start(spec, 4)
    for worker in workers:
        worker.go()
    results = [worker.statuses() for worker in workers]
    for worker in workers:
        worker.finish()
    admitted = sum(result.get("200", 0) for result in results)
    billed = sum(result.get("billed", 0) for result in results)
    refused = sum(result.get("429", 0) for result in results)
    assert (admitted, billed, refused) == (quota + allowance, allowance, 4 * 8 * 20 - 350)
    assert sum(1 for result in results if result.get("billed")) >= 2  # they really competed
    enforcement.flusher.flush()
    assert sql_counter(enforcement, account.tenant_id, "api_calls") == quota + allowance
    assert sql_counter(enforcement, account.tenant_id, "api_calls_overage") == allowance
    rows = outbox(enforcement, account.tenant_id)
    assert sum(quantity for _, quantity, _ in rows) == allowance
    assert {(start, when) for start, _, when in rows} == {(PERIOD[0], int(START))}


def test_a_flusher_killed_between_commit_and_ack_writes_its_outbox_rows_once(
    app_config: dict[str, Any], enforcement: Enforcement, factory: Factory
) -> None:
    account = pro_account(factory, per_day=10)
    config = worker_config(app_config, USAGE_FLUSH_SECONDS=3600)
    spec = {"config": config, "key": account.key, "threads": 2, "calls": 20, "now": START}
    spec["die_after_commit"] = True
    worker = Worker(spec)
    worker.go()
    assert worker.statuses() == {"200": 40, "billed": 30}
    assert worker.process.wait(timeout=30) == -signal.SIGKILL
    assert outbox(enforcement, account.tenant_id) == [(PERIOD[0], 30, int(START))]
    store = enforcement.store.primary  # type: ignore[attr-defined]
    client, batches = store.client, f"{app_config['ENFORCEMENT_REDIS_PREFIX']}usage:batches"
    claimed = client.zrange(batches, 0, -1)
    assert len(claimed) == 1
    client.zadd(batches, {claimed[0]: 0})  # its claim is now older than STALE_BATCH_SECONDS
    enforcement.flusher.flush()  # retakes the batch, finds it in the ledger, acknowledges it
    assert client.zcard(batches) == 0
    assert outbox(enforcement, account.tenant_id) == [(PERIOD[0], 30, int(START))]
    assert sql_counter(enforcement, account.tenant_id, "api_calls_overage") == 30
