"""Concurrency slots under real concurrent requests: taken, refused, and always given back."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask, Response, send_file

from portal.enforcement import Enforcement, current_usage_snapshot, metered
from tests.enforcement.support import FakeClock
from tests.factory import Account

WAIT = 10.0


def in_flight(app: Flask, account: Account) -> int:
    with app.app_context():
        return current_usage_snapshot(account.tenant_id)["concurrent"]


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Gate:
    """Test-only endpoints that hold their slot until the test opens the gate."""

    def __init__(self, app: Flask) -> None:
        self.open = threading.Event()
        self.entered = 0
        self._lock = threading.Lock()
        app.add_url_rule("/api/slow", "slow", metered(self.slow))
        app.add_url_rule("/api/stream", "stream", metered(self.stream))
        app.add_url_rule("/api/boom", "boom", metered(self.boom))

    def slow(self) -> dict[str, bool]:
        with self._lock:
            self.entered += 1
        assert self.open.wait(WAIT)
        return {"done": True}

    def stream(self) -> Response:
        def chunks() -> Iterator[str]:
            yield "first\n"
            assert self.open.wait(WAIT)
            yield "last\n"

        return Response(chunks(), mimetype="text/plain")

    def boom(self) -> None:
        raise RuntimeError("the view failed")


@pytest.fixture
def gate(app: Flask) -> Iterator[Gate]:
    gate = Gate(app)
    yield gate
    gate.open.set()


def test_the_concurrency_limit_under_real_requests(
    app: Flask,
    gate: Gate,
    live_server: Any,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("pro")  # 10 concurrent requests
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [
            pool.submit(requests.get, f"{live_server.url}/api/slow", headers=account.headers)
            for _ in range(12)
        ]
        wait_for(lambda: sum(f.done() for f in futures) == 2 and gate.entered == 10)
        refused = [f.result() for f in futures if f.done()]
        assert in_flight(app, account) == 10
        gate.open.set()
        admitted = [f.result() for f in futures if f.result() not in refused]
    for response in refused:
        assert response.status_code == 429
        assert response.json()["error"] == "Rate limit exceeded (10 concurrent requests)"
        assert response.headers["Retry-After"] == "1"
    assert sorted(r.status_code for r in admitted) == [200] * 10
    wait_for(lambda: in_flight(app, account) == 0)
    assert requests.get(f"{live_server.url}/api/slow", headers=account.headers).ok


def test_a_streamed_response_holds_its_slot_until_it_ends(
    app: Flask,
    gate: Gate,
    live_server: Any,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")  # 2 concurrent requests
    url = f"{live_server.url}/api/stream"
    with requests.get(url, headers=account.headers, stream=True) as first:
        lines = first.iter_lines()
        assert next(lines) == b"first"
        assert in_flight(app, account) == 1
        with requests.get(url, headers=account.headers, stream=True) as second:
            assert next(second.iter_lines()) == b"first"
            third = requests.get(f"{live_server.url}/api/memories", headers=account.headers)
            assert third.status_code == 429
            assert "2 concurrent requests" in third.json()["error"]
            gate.open.set()
        assert list(lines) == [b"last"]
    wait_for(lambda: in_flight(app, account) == 0)


def test_a_failing_view_gives_its_slot_back(
    app: Flask, gate: Gate, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    app.testing = False  # let the app turn the exception into its 500 response
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/boom", headers=account.headers).status_code == 500
    assert in_flight(app, account) == 0
    assert client.get("/api/memories", headers=account.headers).status_code == 200


def test_a_lease_of_a_vanished_worker_expires(
    app: Flask, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    from portal.enforcement import enforcement_for

    account = make_account("free")
    enforcement = enforcement_for(app)
    with app.app_context():
        policy = enforcement.directory.policy(account.tenant_id)
    assert policy is not None
    for _ in range(2):  # two calls whose workers die before releasing
        decision, admission = enforcement.admit(policy, ["api_calls"])
        assert decision.allowed
    assert enforcement.admit(policy, ["api_calls"])[0].limit == "concurrent"
    clock.advance(enforcement.lease_seconds)
    assert enforcement.admit(policy, ["api_calls"])[0].allowed


def test_a_failed_last_used_note_gives_the_slot_back(
    app: Flask,
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Noting the key's use fails after the slot was taken: the slot is not kept."""

    def broken(key_id: int) -> None:
        raise RuntimeError("could not note the key's use")

    monkeypatch.setattr(enforcement.last_used, "note", broken)
    account = make_account("free")  # 2 concurrent requests
    app.testing = False
    client = app.test_client()
    assert client.get("/api/memories", headers=account.headers).status_code == 500
    assert in_flight(app, account) == 0


def test_a_sent_file_gives_its_slot_back(
    app: Flask, live_server: Any, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    """``send_file`` answers with a direct-passthrough stream: the server closes the body
    itself, not the Response, and the slot must come back all the same."""

    def download() -> Response:
        return send_file(io.BytesIO(b"memory export\n" * 1000), mimetype="text/plain")

    app.add_url_rule("/api/export", "export", metered(download))
    account = make_account("free")  # 2 concurrent requests
    for _ in range(3):
        response = requests.get(f"{live_server.url}/api/export", headers=account.headers)
        assert response.status_code == 200 and response.text.startswith("memory export")
    wait_for(lambda: in_flight(app, account) == 0)
