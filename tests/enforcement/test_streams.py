"""Streamed responses: their lease is renewed as chunks go out, so a long stream keeps its slot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, Response

from portal.enforcement import Enforcement, metered
from tests.enforcement.support import FakeClock
from tests.factory import Account

CHUNKS = 10


@pytest.fixture(params=["memory", "redis"])
def app_config(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> dict[str, Any]:
    """Every test here runs on the embedded store and on Redis."""
    if request.param == "redis":
        app_config.update(request.getfixturevalue("redis_settings"))
    return app_config


def ticks() -> Response:
    return Response((f"{n}\n" for n in range(CHUNKS)), mimetype="text/plain")


def test_a_stream_longer_than_its_lease_keeps_its_slot(
    app: Flask,
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    enforcement.lease_seconds = 2.0
    app.add_url_rule("/api/ticks", "ticks", metered(ticks))
    account = make_account("free")
    response = app.test_client().get("/api/ticks", headers=account.headers, buffered=False)
    held = []
    for _ in response.response:
        clock.advance(1.0)  # CHUNKS seconds in all: five times the lease
        held.append(enforcement.live_counts(account.tenant_id).concurrent)
    response.close()
    assert held == [1] * CHUNKS
    assert enforcement.live_counts(account.tenant_id).concurrent == 0


def test_a_stream_that_stalls_past_its_lease_loses_its_slot(
    app: Flask,
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    enforcement.lease_seconds = 2.0
    app.add_url_rule("/api/ticks", "ticks", metered(ticks))
    account = make_account("free")
    response = app.test_client().get("/api/ticks", headers=account.headers, buffered=False)
    chunks = iter(response.response)
    next(chunks)
    clock.advance(2.5)  # no chunk for longer than the lease: renewing comes too late
    assert enforcement.live_counts(account.tenant_id).concurrent == 0
    assert b"".join(chunks) == b"".join(f"{n}\n".encode() for n in range(1, CHUNKS))
    response.close()
