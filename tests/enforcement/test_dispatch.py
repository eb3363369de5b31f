"""One process serves the portal and the example API; both see the same counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify
from werkzeug.test import Client

from portal.enforcement import (
    current_caller,
    current_usage_snapshot,
    enforcement_for,
    init_enforcement,
    metered,
    storage_quota,
)
from portal.serving.dispatch import PathDispatcher
from tests.enforcement.support import FakeClock
from tests.factory import Account


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


def test_a_bare_flask_app_needs_only_init_enforcement(
    app_config: dict[str, Any], make_account: Callable[..., Account]
) -> None:
    """What the README shows: the user's own app, the portal's database, nothing else set."""
    api = Flask("users_api")
    api.config["SQLALCHEMY_DATABASE_URI"] = app_config["SQLALCHEMY_DATABASE_URI"]
    api.config["REDIS_URL"] = ""  # whatever the environment says, stay embedded here
    init_enforcement(api)

    @api.post("/api/things")
    @metered
    @storage_quota
    def add_thing() -> Any:
        return jsonify(tenant=current_caller().id), 201

    account = make_account("pro")
    try:
        response = api.test_client().post("/api/things", headers=account.headers)
        assert response.status_code == 201
        assert response.get_json() == {"tenant": account.tenant_id}
        assert response.headers["X-Tier"] == "pro"
    finally:
        enforcement_for(api).stop()
