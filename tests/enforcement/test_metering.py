"""Durable usage: batched upserts into usage_counter, read back flushed plus pending."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.enforcement import (
    Enforcement,
    check_rate_limit,
    check_storage_limit,
    current_usage_snapshot,
    get_storage_usage,
    get_usage,
    metering,
    record_api_call,
    record_federation_contribution,
    record_storage_usage,
)
from portal.enforcement.flusher import Flusher
from portal.enforcement.metering import LEDGER_KEPT, write_batch, write_usage
from portal.enforcement.stores.base import UsageBatch
from portal.enforcement.stores.memory import MemoryStore
from portal.models import Tenant, UsageBatchLedger, UsageCounter
from tests.enforcement.support import FakeClock
from tests.factory import Account

TODAY = int(FakeClock()()) // 86_400


def counters(enforcement: Enforcement, tenant_id: int) -> dict[str, int]:
    query = sa.select(UsageCounter.metric, UsageCounter.value).where(
        UsageCounter.tenant_id == tenant_id
    )
    with enforcement.engine.connect() as connection:
        return {metric: value for metric, value in connection.execute(query)}


@pytest.mark.both_dbs
def test_batched_upserts_add_up(
    enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    account = make_account("free")
    rows = {(account.tenant_id, "api_calls", TODAY): 3, (account.tenant_id, "x", TODAY): 1}
    assert write_usage(enforcement.engine, rows) == 2
    assert write_usage(enforcement.engine, rows) == 2
    assert counters(enforcement, account.tenant_id) == {"api_calls": 6, "x": 2}


@pytest.mark.both_dbs
def test_usage_of_a_deleted_tenant_is_dropped_not_retried_forever(
    enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    gone, kept = make_account("free"), make_account("free")
    with enforcement.engine.begin() as connection:
        connection.execute(sa.delete(Tenant).where(Tenant.id == gone.tenant_id))
    rows = {(gone.tenant_id, "api_calls", TODAY): 1, (kept.tenant_id, "api_calls", TODAY): 2}
    write_usage(enforcement.engine, rows)
    assert counters(enforcement, kept.tenant_id) == {"api_calls": 2}


@pytest.mark.both_dbs
def test_a_ledgered_batch_part_is_counted_once_and_the_ledger_is_pruned(
    enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    account = make_account("free")
    row = (account.tenant_id, "api_calls", TODAY)
    old = datetime.now(UTC) - LEDGER_KEPT - timedelta(minutes=1)
    with enforcement.engine.begin() as connection:
        connection.execute(
            sa.insert(UsageBatchLedger), {"batch_id": "long-gone", "flushed_at": old}
        )
    assert write_batch(enforcement.engine, UsageBatch({"a": {row: 3}}, ledgered=True)) == 1
    # "a" again (retaken after its flusher died before acknowledging) beside a new part "b".
    retaken = UsageBatch({"a": {row: 3}, "b": {row: 2}}, ledgered=True)
    assert write_batch(enforcement.engine, retaken) == 1
    assert counters(enforcement, account.tenant_id) == {"api_calls": 5}
    with enforcement.engine.connect() as connection:
        ledger = set(connection.scalars(sa.select(UsageBatchLedger.batch_id)))
    assert ledger == {"a", "b"}


@pytest.mark.both_dbs
def test_admitted_calls_are_flushed_within_a_second(
    client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    account = make_account("pro")
    for _ in range(7):
        assert client.get("/api/memories", headers=account.headers).status_code == 200
    client.get("/api/search?q=a", headers=account.headers)
    deadline = time.monotonic() + 2.5
    while counters(enforcement, account.tenant_id).get("api_calls") != 8:
        assert time.monotonic() < deadline, "not flushed in time"
        time.sleep(0.05)
    assert counters(enforcement, account.tenant_id) == {
        "api_calls": 8,
        "api_calls:/api/memories": 7,
        "api_calls:/api/search": 1,
    }


def test_stop_flushes_everything(
    client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    enforcement.flusher.interval = 3600
    account = make_account("pro")
    for _ in range(5):
        client.get("/api/memories", headers=account.headers)
    enforcement.stop()
    assert counters(enforcement, account.tenant_id)["api_calls"] == 5


def test_the_plain_functions(
    app: Flask,
    client: FlaskClient,
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")
    for _ in range(10):
        client.get("/api/memories", headers=account.headers)
    with app.app_context():
        assert get_usage(account.tenant_id, "api_calls", "minute") == 10
        assert get_usage(account.tenant_id, "api_calls", "day") == 10  # pending
        enforcement.flusher.flush()
        assert get_usage(account.tenant_id, "api_calls", "day") == 10  # flushed
        record_api_call(account.tenant_id, "/api/batch", count=2)
        assert get_usage(account.tenant_id, "api_calls:/api/batch") == 2
        assert get_usage(account.tenant_id, "api_calls", "month") == 12
        assert check_rate_limit(account.tenant_id, "free") == (
            False,
            "Rate limit exceeded (10 calls/minute)",
        )
        assert check_rate_limit(account.tenant_id, "pro") == (True, None)
        assert current_usage_snapshot(account.tenant_id) == {
            "minute": 10,
            "day": 10,
            "concurrent": 0,
        }
        record_federation_contribution(account.tenant_id, 4)
        assert get_usage(account.tenant_id, "federation_contributions") == 4
        record_storage_usage(account.tenant_id, 1000, 900, 5)
        assert get_storage_usage(account.tenant_id).as_body() == {
            "memories": 1000,
            "embeddings": 900,
            "bytes": 5,
        }
        assert check_storage_limit(account.tenant_id, "free") == (
            False,
            "Storage limit exceeded (1000 memories)",
        )
        assert check_storage_limit(account.tenant_id, "pro") == (True, None)
        with pytest.raises(ValueError, match="period"):
            get_usage(account.tenant_id, "api_calls", "week")
    clock.advance(60)
    with app.app_context():
        assert check_rate_limit(account.tenant_id, "free") == (True, None)


def test_federation_contributions_are_metered(
    app: Flask, client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    account = make_account("pro")
    for text in ("alpha", "beta", "gamma"):
        client.post("/api/memories", json={"content": text}, headers=account.headers)
    response = client.post(
        "/api/federation", json={"memory_ids": [1, 3, 99]}, headers=account.headers
    )
    assert response.status_code == 202
    assert response.get_json() == {"shared": [1, 3], "priority": "normal"}
    enforcement.flusher.flush()
    assert counters(enforcement, account.tenant_id)["federation_contributions"] == 2


def test_check_rate_limit_honours_the_tenants_overrides(
    app: Flask, client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("enterprise", {"api_calls_per_minute": 3})
    for _ in range(3):
        client.get("/api/memories", headers=account.headers)
    with app.app_context():
        assert check_rate_limit(account.tenant_id, "enterprise") == (
            False,
            "Rate limit exceeded (3 calls/minute)",
        )
        assert check_rate_limit(account.tenant_id, "pro") == (True, None)  # pro's own limits


def test_a_store_that_cannot_take_a_batch_back_does_not_stop_the_flush(
    enforcement: Enforcement, make_account: Callable[..., Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQL refuses Redis's batch, then Redis cannot be told (it keeps the batch claimed and
    hands it out again later): the in-memory usage after it is flushed all the same."""
    account = make_account("free")
    row = (account.tenant_id, "api_calls", TODAY)

    class GoneRedis:
        def take_usage(self) -> UsageBatch:
            return UsageBatch({"redis-batch": {row: 4}}, ledgered=True)

        def ack_usage(self, batch: UsageBatch) -> None:
            raise AssertionError("never written, so never acknowledged")

        def return_usage(self, batch: UsageBatch) -> None:
            raise redis.ConnectionError("Redis went away")

    memory = MemoryStore()
    memory.add_usage(*row, 3)
    written = metering.write_batch

    def refuse_redis_batch(engine: sa.Engine, batch: UsageBatch, now: float) -> int:
        if "redis-batch" in batch.parts:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return written(engine, batch, now)

    monkeypatch.setattr(metering, "write_batch", refuse_redis_batch)
    flusher = Flusher(enforcement.engine, (GoneRedis(), memory), 1.0, enforcement.last_used)
    assert flusher.flush() == 1
    assert counters(enforcement, account.tenant_id) == {"api_calls": 3}
