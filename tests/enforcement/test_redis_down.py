"""Redis down: fail closed with a 503 or open to per-process limits, never slow, never a 500."""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from examples.continuum_api import create_api_app
from portal.enforcement import Enforcement, enforcement_for, get_usage
from portal.enforcement.stores.base import Quota, StoreUnavailable
from portal.enforcement.stores.guarded import GuardedStore
from portal.enforcement.stores.redis import RedisStore, connect
from portal.enforcement.stores.redis_link import PROBE_AFTER_IDLE_SECONDS
from tests.enforcement.support import FakeClock
from tests.factory import Account


class DeadPort:
    """A local port that refuses connections: bound and never listening, so no other test
    worker's server can take it while the test runs; ``free`` gives it up for a Redis of ours."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def free(self) -> int:
        self.sock.close()
        return self.port


@pytest.fixture
def dead_port() -> Iterator[DeadPort]:
    port = DeadPort()
    yield port
    port.sock.close()


@pytest.fixture(params=["closed", "open"])
def app_config(
    request: pytest.FixtureRequest, app_config: dict[str, Any], dead_port: DeadPort
) -> dict[str, Any]:
    app_config.update(REDIS_URL=dead_port.url, ENFORCEMENT_FAIL_MODE=request.param)
    return app_config


def test_redis_down_is_fast_and_follows_the_fail_mode(
    app: Flask,
    client: FlaskClient,
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = make_account("free")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="continuum.enforcement"):
        responses = [client.get("/api/memories", headers=account.headers) for _ in range(12)]
    assert time.monotonic() - started < 1.0
    statuses = [response.status_code for response in responses]
    if app.config["ENFORCEMENT_FAIL_MODE"] == "closed":
        assert statuses == [503] * 12
        assert "unreachable" in responses[0].get_json()["error"]
        assert responses[0].headers["Retry-After"] == "1"
    else:
        assert statuses == [200] * 10 + [429] * 2
        assert responses[0].headers["X-RateLimit-Remaining-Minute"] == "9"
        with app.app_context():
            assert get_usage(account.tenant_id) == 10  # counted in memory meanwhile
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # one warning, not one per request


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """A private redis-server on ``port``, answering when this returns."""
    server_binary = shutil.which("redis-server")
    if server_binary is None:
        pytest.skip("redis-server is not installed")
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen([server_binary, *arguments], stdout=subprocess.DEVNULL)
    probe = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    probe.close()
    return server


def stop_redis(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=10)


def test_calls_resume_once_redis_is_back(
    app_config: dict[str, Any], make_account: Callable[..., Account], dead_port: DeadPort
) -> None:
    """The breaker lets one call through after ``open_seconds``; when it works, all do."""
    api = create_api_app(app_config)
    client = api.test_client()
    account = make_account("pro")
    assert client.get("/api/memories", headers=account.headers).status_code in (200, 503)
    server = start_redis(dead_port.free())
    try:
        # Past the breaker's open time (1 s) a call tries Redis again; on a loaded machine the
        # first try can still time out (0.1 s), so wait for one that works, then all do.
        deadline = time.monotonic() + 10
        while not (
            client.get("/api/memories", headers=account.headers).status_code == 200
            and enforcement_for(api).store.healthy()  # type: ignore[attr-defined]
        ):
            assert time.monotonic() < deadline, "calls never resumed"
            time.sleep(0.1)
        statuses = [
            client.get("/api/memories", headers=account.headers).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
    finally:
        enforcement_for(api).stop()
        stop_redis(server)


def test_a_redis_restart_between_calls_costs_no_call(
    app_config: dict[str, Any], make_account: Callable[..., Account], dead_port: DeadPort
) -> None:
    """Connections the restarted server closed are found idle and replaced, not failed on."""
    port = dead_port.free()
    server = start_redis(port)
    api = create_api_app(app_config)
    try:
        client = api.test_client()
        account = make_account("pro")
        assert client.get("/api/memories", headers=account.headers).status_code == 200
        stop_redis(server)
        server = start_redis(port)
        time.sleep(PROBE_AFTER_IDLE_SECONDS + 0.1)
        statuses = [
            client.get("/api/memories", headers=account.headers).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
    finally:
        enforcement_for(api).stop()
        stop_redis(server)


def test_a_call_ending_while_redis_is_unreachable_still_gives_its_slot_back() -> None:
    """A call admitted just before Redis stops answering ends while the breaker is open: its
    release waits for Redis, instead of its slot being held for a whole lease afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_redis(port)
    store = GuardedStore(
        RedisStore(connect(f"redis://127.0.0.1:{port}/0", 0.1)), "closed", open_seconds=0.3
    )
    quota = Quota(per_minute=100, per_day=1000, concurrent=2)

    def admit() -> Any:
        return store.acquire(1, quota, time.time(), 30.0, ["api_calls"])

    try:
        lease = admit().lease
        assert lease is not None
        server.send_signal(signal.SIGSTOP)  # Redis hangs: every call times out
        try:
            # Open the breaker with reads: an admission that times out is still in Redis's
            # socket buffer and can run when Redis wakes, holding a slot of its own.
            for _ in range(3):
                store.live_counts(1, time.time())
            assert not store.healthy()
            store.release(1, lease)
            time.sleep(0.4)  # the releaser tried, and the breaker's open time is over
        finally:
            server.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 5
        while not store.healthy():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The releaser thread carries the queued release on its own; wait until Redis itself
        # (not the fallback) shows the slot free, or the next admission can overtake it.
        while store.primary.live_counts(1, time.time()).concurrent:
            assert time.monotonic() < deadline, "the release never reached Redis"
            time.sleep(0.05)
        admission = admit()
        assert admission.refused is None and admission.in_flight == 1
    finally:
        store.close()
        stop_redis(server)


def test_an_admission_that_timed_out_is_taken_back_when_redis_runs_it_late() -> None:
    """A refused call (503) whose admission timed out on the client was still in Redis's socket
    buffer: Redis runs it when it wakes. Its undo, queued at the timeout and retried until Redis
    answers, takes back its slot and its counts without waiting for another call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_redis(port)
    store = GuardedStore(
        RedisStore(connect(f"redis://127.0.0.1:{port}/0", 0.1)), "closed", open_seconds=0.3
    )
    quota = Quota(per_minute=100, per_day=1000, concurrent=2)
    metrics = ["api_calls", "api_calls:/api/memories"]

    def admit() -> Any:
        return store.acquire(1, quota, time.time(), 30.0, metrics)

    try:
        admission = admit()
        assert admission.lease is not None
        store.release(1, admission.lease)
        server.send_signal(signal.SIGSTOP)  # Redis hangs: the admission times out
        try:
            with pytest.raises(StoreUnavailable):
                admit()
        finally:
            server.send_signal(signal.SIGCONT)
        # No other call comes: the undo must go out on its own.
        deadline = time.monotonic() + 5
        while True:
            counts = store.primary.live_counts(1, time.time())
            taken_back = counts.concurrent == 0 and counts.minute == 1 and counts.day == 1
            if taken_back and not store.primary.has_unsure:
                break
            assert time.monotonic() < deadline, f"the refused call is still counted: {counts}"
            time.sleep(0.05)
        day = int(time.time()) // 86_400
        assert store.primary.pending_usage(1, "api_calls:/api/memories", [day]) == 1
    finally:
        store.close()
        stop_redis(server)
