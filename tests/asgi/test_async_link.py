"""The async admission's own Redis connection (``stores/redis_async.py``): a script Redis lost is
sent again, a connection the server dropped is replaced, and a server that never answers costs
one timeout, after which the admission is settled by the sync store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from portal.enforcement.stores.base import Quota
from portal.enforcement.stores.redis import RedisStore, connect
from portal.enforcement.stores.redis_async import AsyncRedisAdmissions, supported
from tests.asgi.conftest import run_async
from tests.enforcement.support import redis_store

QUOTA = Quota(per_minute=100, per_day=1000, concurrent=50)


@pytest.fixture
def store(redis_settings: dict[str, Any]) -> Iterator[RedisStore]:
    with redis_store(redis_settings) as made:
        yield made


def admit(admissions: AsyncRedisAdmissions, tenant_id: int = 1) -> Any:
    return admissions.acquire(tenant_id, QUOTA, time.time(), 30.0, ["api_calls"])


def test_admissions_share_the_sync_stores_counters(store: RedisStore) -> None:
    assert supported(store)

    async def run() -> list[int]:
        admissions = AsyncRedisAdmissions(store)
        replies = await asyncio.gather(*(admit(admissions) for _ in range(20)))  # pipelined
        await admissions.close()
        return sorted(reply.minute_count for reply in replies)

    assert run_async(run) == list(range(1, 21))
    after = store.acquire(1, QUOTA, time.time(), 30.0, ["api_calls"])
    assert after.minute_count == 21


def test_a_script_redis_lost_is_sent_again(store: RedisStore) -> None:
    async def run() -> tuple[int, int]:
        admissions = AsyncRedisAdmissions(store)
        first = await admit(admissions)
        store.client.script_flush()  # what a restarted Redis has forgotten
        second = await admit(admissions)
        await admissions.close()
        return first.minute_count, second.minute_count

    assert run_async(run) == (1, 2)


def test_a_connection_the_server_dropped_is_replaced(store: RedisStore) -> None:
    async def run() -> tuple[int, bool, int]:
        admissions = AsyncRedisAdmissions(store)
        await admit(admissions)
        protocol = admissions._protocol
        assert protocol is not None and protocol.transport is not None
        host, port = protocol.transport.get_extra_info("sockname")[:2]
        store.client.client_kill(f"{host}:{port}")  # this connection only
        while protocol.closed is None:
            await asyncio.sleep(0.01)
        reply = await admit(admissions)  # connects again
        await admissions.close()
        return reply.minute_count, store.has_unsure, admissions._protocol is not protocol

    assert run_async(run) == (2, False, True)


def test_a_server_that_never_answers_costs_one_timeout_and_is_settled_later(
    redis_settings: dict[str, Any],
) -> None:
    async def run() -> tuple[float, bool]:
        silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        store = RedisStore(connect(f"redis://127.0.0.1:{port}/0", 0.2), "silent:")
        admissions = AsyncRedisAdmissions(store)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await admit(admissions)
        took = time.monotonic() - started
        silent.close()
        await admissions.close()
        return took, store.has_unsure

    took, unsure = run_async(run)
    assert 0.15 < took < 2  # the store's socket timeout, not forever
    assert unsure  # the sync store undoes it once Redis answers, if it ran after all


def test_a_refused_setup_is_a_connection_error(redis_settings: dict[str, Any]) -> None:
    url = redis_settings["REDIS_URL"].rsplit("/", 1)[0] + "/99"  # no such database

    async def run() -> None:
        admissions = AsyncRedisAdmissions(RedisStore(connect(url), "none:"))
        try:
            await admit(admissions)
        finally:
            await admissions.close()

    with pytest.raises(redis.ConnectionError, match="setup"):
        run_async(run)
