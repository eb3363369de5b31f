"""Redis down, on both adapters, in both fail modes: closed answers 503 at once, open admits on
each process's own counters (the limits still hold); when Redis is back, calls go through it
again (on the ASGI side, over a new connection of the on-loop admission)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from portal.enforcement import Enforcement
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
