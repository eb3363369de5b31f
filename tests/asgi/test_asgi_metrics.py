"""Both adapters feed the operator metrics (/metrics) the same way, and neither lets a broken
metrics backend fail a call."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from portal import metrics
from tests.admin.test_metrics import broken_metrics, value
from tests.asgi.conftest import Api
from tests.enforcement.support import FakeClock
from tests.factory import Account


def scraped() -> str:
    return metrics.exposition()[0].decode()


def test_both_adapters_count_calls_refusals_and_their_time(
    api: Api, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    before = scraped()
    statuses = [api.call("GET", "/api/memories", headers=account.headers).status for _ in range(12)]
    assert statuses == [200] * 10 + [429] * 2
    assert api.call("GET", "/api/memories", headers={"X-API-Key": "nope"}).status == 401
    assert api.call("POST", "/api/federation", headers=account.headers, json={}).status == 403
    after = scraped()

    def moved(sample: str) -> float:
        return value(after, sample) - value(before, sample)

    assert moved('continuum_api_calls_total{status="200"}') == 10
    assert moved('continuum_api_calls_total{status="429"}') == 2
    assert moved('continuum_api_calls_total{status="401"}') == 1
    assert moved('continuum_api_calls_total{status="403"}') == 1
    assert moved('continuum_rate_limited_total{limit="minute",tier="free"}') == 2
    assert moved("continuum_enforcement_seconds_count") == 14


def test_a_broken_metrics_backend_never_fails_a_call(
    api: Api,
    make_account: Callable[..., Account],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "_m", broken_metrics)
    account = make_account("free")
    statuses = [api.call("GET", "/api/memories", headers=account.headers).status for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert api.call("GET", "/api/memories", headers={"X-API-Key": "nope"}).status == 401
