"""The FastAPI example served by uvicorn as a user runs it: a key made in the portal works at
once, the limits hold under real concurrent clients, and a TERM flushes the usage."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.enforcement import Enforcement
from portal.plans import TIER_LIMITS, PricingTier
from tests.conftest import base_test_config
from tests.enforcement.support import sql_counter
from tests.factory import Account

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    """The embedded store only: the served example has its own (REDIS_URL unset)."""
    return base_test_config(database_url)


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "API_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "examples/continuum_fastapi.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.2)
    yield base, process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_a_portal_key_works_and_the_minute_limit_holds_under_concurrency(
    served: tuple[str, subprocess.Popen[bytes]],
    make_account: Callable[..., Account],
    enforcement: Enforcement,
) -> None:
    base, process = served
    account = make_account("free")
    per_minute = TIER_LIMITS[PricingTier.FREE].api_calls_per_minute

    def call(_: int) -> tuple[int, str]:
        response = httpx.get(f"{base}/api/memories", headers=account.headers, timeout=10)
        return response.status_code, response.json().get("error", "")

    began = time.time()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(per_minute + 6)))
    statuses = [status for status, _ in answers]
    admitted = statuses.count(200)
    assert set(statuses) == {200, 429}
    refusals = {error for status, error in answers if status == 429}
    # Free allows few calls at once: 8 clients meet the concurrency limit, then the minute's.
    assert refusals <= {
        f"Rate limit exceeded ({per_minute} calls/minute)",
        f"Rate limit exceeded ({TIER_LIMITS[PricingTier.FREE].concurrent_requests} "
        "concurrent requests)",
    }
    if int(began) // 60 == int(time.time()) // 60:  # else a new minute freed a few more
        assert admitted <= per_minute
    process.send_signal(signal.SIGTERM)  # uvicorn's lifespan shutdown flushes the usage
    # uvicorn runs the lifespan's shutdown, then re-raises the signal it caught.
    assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert sql_counter(enforcement, account.tenant_id, "api_calls") == admitted
