"""One process serves the portal and the example API; both see the same counters."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from werkzeug.test import Client

from portal.dispatch import PathDispatcher
from portal.enforcement import current_usage_snapshot
from tests.enforcement.support import Account, FakeClock


def test_the_dispatcher_routes_by_path_and_shares_the_counters(
    portal_app: Flask, app: Flask, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    client = Client(PathDispatcher(portal_app, app))
    assert client.get("/health").json == {"status": "ok"}
    assert b"<html" in client.get("/").data.lower()
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.json is not None  # the API's JSON 404
    account = make_account("free")
    for _ in range(3):
        assert client.get("/api/memories", headers=account.headers).status_code == 200
    with portal_app.app_context():  # what the dashboard reads
        assert current_usage_snapshot(account.tenant_id) == {
            "minute": 3,
            "day": 3,
            "concurrent": 0,
        }
