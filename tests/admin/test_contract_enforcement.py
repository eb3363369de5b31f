"""A contract made in the console reaches the API: at once in the process that made it, within
2 s in any other (its own runtime, as another worker or host would have). Real keys, the
example API, the console's own forms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from examples.continuum_api import create_api_app
from portal import create_app
from portal.enforcement import enforcement_for
from portal.enforcement.directory import CACHE_SECONDS
from portal.extensions import db
from tests.factory import Factory, PortalClient, sign_in

SLACK = 0.3  # polling and a busy machine


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    portal = create_app(app_config)
    portal.test_client_class = PortalClient
    yield portal
    enforcement_for(portal).stop()
    with portal.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def same_process(app: Flask, app_config: dict[str, Any]) -> FlaskClient:
    """The example API sharing the portal's runtime (one process serving both)."""
    return create_api_app(app_config, enforcement=enforcement_for(app)).test_client()


@pytest.fixture
def other_process(app_config: dict[str, Any]) -> Iterator[FlaskClient]:
    """The example API with a runtime of its own: its own engine, cache and counters."""
    api = create_api_app(app_config)
    yield api.test_client()
    enforcement_for(api).stop()


def limit_seen(client: FlaskClient, headers: dict[str, str]) -> tuple[int, str]:
    answer = client.get("/api/memories", headers=headers)
    return answer.status_code, answer.headers.get("X-RateLimit-Limit-Day", "")


def wait_for(client: FlaskClient, headers: dict[str, str], expected: tuple[int, str]) -> float:
    started = time.monotonic()
    while limit_seen(client, headers) != expected:
        assert time.monotonic() - started < CACHE_SECONDS + SLACK, f"not {expected} in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_contract_and_a_revocation_reach_the_api(
    app: Flask,
    factory: Factory,
    same_process: FlaskClient,
    other_process: FlaskClient,
) -> None:
    account = factory.account("pro", key=True)
    staff = sign_in(app, factory.staff())
    assert limit_seen(same_process, account.headers) == (200, "10000")
    assert limit_seen(other_process, account.headers) == (200, "10000")

    token = staff.csrf_token("/admin/audit")
    made = staff.post(
        f"/admin/tenants/{account.tenant_id}/enterprise",
        data={
            "price_month": "2000",
            "starts_on": "2026-01-01",
            "api_calls_per_day": "5000000",
            "csrf_token": token,
        },
    )
    assert made.status_code == 302
    assert limit_seen(same_process, account.headers) == (200, "5000000")  # at once
    assert wait_for(other_process, account.headers, (200, "5000000")) <= CACHE_SECONDS + SLACK
    tier = same_process.get("/api/memories", headers=account.headers).headers["X-Tier"]
    assert tier == "enterprise"

    revoked = staff.post(
        f"/admin/tenants/{account.tenant_id}/revoke-keys",
        data={"reason": "compromised", "csrf_token": token},
    )
    assert revoked.status_code == 302
    assert limit_seen(same_process, account.headers) == (401, "")  # at once
    wait_for(other_process, account.headers, (401, ""))
