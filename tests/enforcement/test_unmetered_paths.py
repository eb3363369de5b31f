"""/health, /docs and the Stripe webhook are outside enforcement: no key, no headers, no count."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.test import Client

from portal.enforcement import current_usage_snapshot
from portal.serving.dispatch import PathDispatcher
from tests.enforcement.support import FakeClock
from tests.factory import Account


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/docs"),
        ("POST", "/billing/webhook"),
        ("POST", "/v1/billing/webhook"),
    ],
)
def test_excluded_paths_are_neither_metered_nor_counted(
    portal_app: Flask,
    app: Flask,
    make_account: Callable[..., Account],
    clock: FakeClock,
    method: str,
    path: str,
) -> None:
    portal_app.config.update(  # configured, so a delivery is answered on its signature
        STRIPE_SECRET_KEY="sk_test_unmetered", STRIPE_WEBHOOK_SECRET="whsec_unmetered_test"
    )
    client = Client(PathDispatcher(portal_app, app))
    account = make_account("free")
    for _ in range(12):  # past Free's 10 calls a minute
        response = client.open(path, method=method, headers=account.headers, data=b"{}")
        assert response.status_code == (400 if path.endswith("webhook") else 200)
        assert not [name for name in response.headers.keys() if "ratelimit" in name.lower()]
        assert "X-Tier" not in response.headers
    with portal_app.app_context():
        assert current_usage_snapshot(account.tenant_id) == {
            "minute": 0,
            "day": 0,
            "concurrent": 0,
        }


def test_docs_describe_every_route_without_a_key(portal_app: Flask, app: Flask) -> None:
    docs = Client(PathDispatcher(portal_app, app)).get("/docs")
    assert docs.status_code == 200
    routes = set(docs.json["routes"])
    assert {
        "GET /api/memories",
        "POST /api/memories",
        "GET /api/search?q=...",
        "POST /api/federation",
        "GET /api/realtime",
        "GET /health",
    } <= routes
