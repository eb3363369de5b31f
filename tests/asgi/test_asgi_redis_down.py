"""Redis down, on both adapters, in both fail modes: closed answers 503 at once, open admits on
each process's own counters (the limits still hold); when Redis is back, calls go through it
again (on the ASGI side, over a new connection of the on-loop admission)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from portal.enforcement import Enforcement
from portal.enforcement.stores.base import Quota
from portal.enforcement.stores.redis import RedisStore, connect
from portal.enforcement.stores.redis_async import AsyncRedisAdmissions
from tests.asgi.conftest import Api
from tests.conftest import base_test_config
from tests.enforcement.support import FakeClock
from tests.enforcement.test_redis_down import DeadPort, start_redis, stop_redis
from tests.factory import Account


@pytest.fixture
def dead_port() -> Any:
    port = DeadPort()
    yield port
    port.sock.close()


@pytest.fixture(params=["closed", "open"])
def app_config(request: pytest.FixtureRequest, database_url: str, dead_port: DeadPort) -> Any:
    config = base_test_config(database_url)
    config.update(
        REDIS_URL=dead_port.url,
        ENFORCEMENT_FAIL_MODE=request.param,
        ENFORCEMENT_REDIS_PREFIX="down:",
    )
    return config


def test_redis_down_follows_the_fail_mode_then_recovers(
    api: Api,
    app_config: dict[str, Any],
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
    dead_port: DeadPort,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = make_account("free")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="continuum.enforcement"):
        answers = [api.call("GET", "/api/memories", headers=account.headers) for _ in range(12)]
    assert time.monotonic() - started < 2.0  # no call waits out a timeout per request
    statuses = [answer.status for answer in answers]
    if app_config["ENFORCEMENT_FAIL_MODE"] == "closed":
        assert statuses == [503] * 12
        assert "unreachable" in answers[0].body["error"]
        assert answers[0].headers["Retry-After"] == "1"
    else:
        assert statuses == [200] * 10 + [429] * 2  # Free's minute, counted in this process
        assert answers[0].headers["X-RateLimit-Remaining-Minute"] == "9"
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1

    server = start_redis(dead_port.free())
    try:
        clock.advance(60)  # a new minute: open mode's local counts do not refuse what follows
        deadline = time.monotonic() + 10
        while True:  # the breaker lets a call try Redis again after its open time
            answer = api.call("GET", "/api/memories", headers=account.headers)
            if answer.status == 200 and enforcement.store.healthy():  # type: ignore[attr-defined]
                break
            assert time.monotonic() < deadline, answer.status
            time.sleep(0.1)
        back = [api.call("GET", "/api/memories", headers=account.headers) for _ in range(3)]
        assert [answer.status for answer in back] == [200, 200, 200]
        # The three calls after recovery are counted in Redis (the call that found it back may
        # have been admitted by the local fallback just before, so it is not counted on).
        assert enforcement.live_counts(account.tenant_id).minute >= 3
    finally:
        stop_redis(server)


def test_an_async_admission_that_timed_out_is_taken_back_when_redis_runs_it_late() -> None:
    """The on-loop admission's timeout leaves its script in Redis's socket buffer too: Redis runs
    it when it wakes, and the store's releaser thread takes it back with no other call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_redis(port)
    store = RedisStore(connect(f"redis://127.0.0.1:{port}/0", 0.1))
    admissions = AsyncRedisAdmissions(store)
    quota = Quota(per_minute=100, per_day=1000, concurrent=2)

    async def admit() -> Any:
        return await admissions.acquire(1, quota, time.time(), 30.0, ["api_calls"])

    async def scenario() -> None:
        first = await admit()
        store.release(1, first.lease)
        server.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises((redis.RedisError, OSError)):
                await admit()
        finally:
            server.send_signal(signal.SIGCONT)
        await admissions.close()

    try:
        asyncio.run(scenario())
        deadline = time.monotonic() + 5
        while True:
            counts = store.live_counts(1, time.time())
            if (counts.concurrent, counts.minute, counts.day) == (0, 1, 1) and not store.has_unsure:
                break
            assert time.monotonic() < deadline, f"the refused call is still counted: {counts}"
            time.sleep(0.05)
    finally:
        store.close()
        stop_redis(server)
