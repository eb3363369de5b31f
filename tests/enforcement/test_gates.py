"""Feature gates, storage quotas (memories and bytes) and the API keys the decorators accept."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import portal.enforcement.directory as directory_module
import portal.enforcement.storage as storage_module
from portal.enforcement import (
    Enforcement,
    enforcement_for,
    metered,
    record_storage_usage,
    requires_feature,
    storage_quota,
)
from portal.enforcement.directory import Directory
from portal.extensions import db
from portal.keys.api_keys import revoke_api_key
from portal.models import Tenant
from portal.plans import TIER_LIMITS, Feature, PricingTier
from tests.enforcement.support import FakeClock
from tests.factory import Account

FEATURE_ROUTES = {
    Feature.SEMANTIC_SEARCH: ("GET", "/api/search?q=hello", None),
    Feature.FEDERATION: ("POST", "/api/federation", {"memory_ids": []}),
    Feature.REALTIME_SYNC: ("GET", "/api/realtime", None),
}


def open_route(client: FlaskClient, account: Account, feature: Feature) -> Any:
    method, path, body = FEATURE_ROUTES[feature]
    return client.open(path, method=method, json=body, headers=account.headers, buffered=True)


@pytest.mark.parametrize("tier", list(PricingTier))
@pytest.mark.parametrize("feature", list(Feature))
def test_each_feature_on_each_tier(
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    tier: PricingTier,
    feature: Feature,
) -> None:
    response = open_route(client, make_account(tier.value), feature)
    if TIER_LIMITS[tier].has_feature(feature):
        assert response.status_code in (200, 202)
    else:
        assert response.status_code == 403
        assert response.get_json() == {
            "error": f"Feature '{feature.value}' not available on {tier.value} tier",
            "feature": feature.value,
            "current_tier": tier.value,
            "upgrade_url": "/billing/upgrade",
        }
        assert response.headers["X-Tier"] == tier.value


def set_storage(app: Flask, account: Account, memories: int, bytes_used: int) -> None:
    with app.app_context():
        record_storage_usage(account.tenant_id, memories, memories, bytes_used)


def add_memory(client: FlaskClient, account: Account, content: str = "abc") -> Any:
    return client.post("/api/memories", json={"content": content}, headers=account.headers)


@pytest.mark.parametrize("tier", list(PricingTier))
def test_memories_quota_boundary(
    app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    tier: PricingTier,
) -> None:
    limits = TIER_LIMITS[tier]
    account = make_account(tier.value)
    set_storage(app, account, limits.memories - 1, 10)
    created = add_memory(client, account)
    assert created.status_code == 201
    assert created.get_json()["storage"] == {
        "memories": limits.memories,
        "embeddings": limits.memories,
        "bytes": 13,
    }
    refused = add_memory(client, account)
    assert refused.status_code == 507
    assert refused.get_json() == {
        "error": f"Storage limit exceeded ({limits.memories} memories)",
        "current_usage": {"memories": limits.memories, "embeddings": limits.memories, "bytes": 13},
        "tier": tier.value,
        "upgrade_url": "/billing/upgrade",
    }
    assert refused.headers["X-Tier"] == tier.value
    assert client.get("/api/memories", headers=account.headers).status_code == 200


@pytest.mark.parametrize("tier", list(PricingTier))
def test_bytes_quota_boundary(
    app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    tier: PricingTier,
) -> None:
    limits = TIER_LIMITS[tier]
    account = make_account(tier.value)
    set_storage(app, account, 5, limits.storage_bytes - 1)
    assert add_memory(client, account, "x").status_code == 201
    refused = add_memory(client, account, "y")
    assert refused.status_code == 507
    body = refused.get_json()
    assert body["error"] == f"Storage limit exceeded ({limits.storage_mb} MB)"
    assert body["current_usage"] == {
        "memories": 6,
        "embeddings": 6,
        "bytes": limits.storage_bytes,
    }


def test_a_write_that_would_cross_the_bytes_limit_is_refused(
    app: Flask, client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    limits = TIER_LIMITS[PricingTier.FREE]
    account = make_account("free")
    set_storage(app, account, 5, limits.storage_bytes - 2)
    refused = add_memory(client, account, "xyz")  # 3 bytes, 2 left: refused before it is stored
    assert refused.status_code == 507
    assert refused.get_json()["current_usage"]["bytes"] == limits.storage_bytes - 2
    assert add_memory(client, account, "xy").status_code == 201  # exactly fills it
    assert add_memory(client, account, "z").status_code == 507


def test_a_bare_storage_quota_counts_the_declared_body_size(
    app: Flask, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    @app.post("/bench/upload")
    @metered
    @storage_quota
    def upload() -> dict[str, bool]:
        return {"ok": True}

    limits = TIER_LIMITS[PricingTier.FREE]
    account = make_account("free")
    set_storage(app, account, 0, limits.storage_bytes - 10)
    client = app.test_client()
    headers = account.headers
    assert client.post("/bench/upload", data=b"0123456789", headers=headers).status_code == 200
    assert client.post("/bench/upload", data=b"0123456789!", headers=headers).status_code == 507
    assert client.post("/bench/upload", headers=headers).status_code == 200  # size unknown


def test_a_decorator_between_metered_and_requires_feature_still_runs(
    app: Flask, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    """``@metered`` checks a ``@requires_feature`` right beneath it inline; one further down
    (here under ``@storage_quota``) must not make it skip what lies between."""

    @app.post("/api/shared")
    @metered
    @storage_quota
    @requires_feature("federation")
    def shared() -> dict[str, bool]:
        return {"ok": True}

    limits = TIER_LIMITS[PricingTier.PRO]
    account = make_account("pro")
    set_storage(app, account, 0, limits.storage_bytes)
    client = app.test_client()
    assert client.post("/api/shared", headers=account.headers).status_code == 507
    assert client.post("/api/shared", headers=make_account("free").headers).status_code == 403


def test_storage_checks_use_the_cache_and_see_writes_at_once(
    app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enforcement = enforcement_for(app)
    account = make_account("free")
    set_storage(app, account, 0, 0)
    reads: list[int] = []
    read = storage_module.read_storage

    def counting_read(engine: Any, tenant_id: int) -> Any:
        reads.append(tenant_id)
        return read(engine, tenant_id)

    monkeypatch.setattr(storage_module, "read_storage", counting_read)
    for _ in range(3):
        assert add_memory(client, account).status_code == 201
    assert enforcement.storage.read(account.tenant_id).memories == 3
    # Only the read-back after each write: the checks themselves read no SQL.
    assert reads == [account.tenant_id] * 3


def test_pro_storage_body_matches_the_spec(
    app: Flask, client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("pro")
    set_storage(app, account, 10, 10_000 * 1_000_000)
    body = add_memory(client, account).get_json()
    assert body["error"] == "Storage limit exceeded (10000 MB)"
    assert set(body) == {"error", "current_usage", "tier", "upgrade_url"}


# --- keys ------------------------------------------------------------------------------------

VALID_SHAPE = "ck_test_" + "A" * 43


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "   "},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token " + VALID_SHAPE},
        {"X-API-Key": "not-a-key"},
        {"X-API-Key": VALID_SHAPE[:-1]},
        {"X-API-Key": VALID_SHAPE + "A"},
        {"X-API-Key": "ck_test_" + "A" * 42 + "é"},
        {"X-API-Key": "ck_test_" + "A" * 42 + "\x00"},
        {"X-API-Key": "k" * 16_384},
        {"Authorization": "Bearer " + "k" * 16_384},
        {"X-API-Key": VALID_SHAPE},  # the right shape, but no such key
        {"Authorization": "Bearer " + VALID_SHAPE},
    ],
    ids=lambda headers: repr(headers)[:40],
)
def test_bad_keys_get_401_json(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.get("/api/memories", headers=headers)
    assert response.status_code == 401
    assert response.is_json
    assert response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_both_header_forms_work(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    assert client.get("/api/memories", headers={"X-API-Key": account.key}).status_code == 200
    bearer = {"Authorization": f"Bearer {account.key}"}
    assert client.get("/api/memories", headers=bearer).status_code == 200


def test_a_revoked_key_is_refused_at_once(
    portal_app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")
    assert client.get("/api/memories", headers=account.headers).status_code == 200
    with portal_app.app_context():
        revoke_api_key(db.session.get(Tenant, account.tenant_id), account.key_id)
    response = client.get("/api/memories", headers=account.headers)
    assert response.status_code == 401
    assert "revoked" in response.get_json()["error"]


def test_a_key_revoked_while_it_was_being_looked_up_is_not_cached(
    portal_app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The key is read from SQL, then revoked (committed) before the read is cached: the call
    that read it may run, the next one must not."""
    account = make_account("free")
    found_before = Directory._active_key

    def revoked_meanwhile(directory: Directory, raw: str, digest: str) -> Any:
        found = found_before(directory, raw, digest)
        with portal_app.app_context():
            revoke_api_key(db.session.get(Tenant, account.tenant_id), account.key_id)
        return found

    monkeypatch.setattr(Directory, "_active_key", revoked_meanwhile)
    assert client.get("/api/memories", headers=account.headers).status_code == 200
    monkeypatch.setattr(Directory, "_active_key", found_before)
    assert client.get("/api/memories", headers=account.headers).status_code == 401


def test_a_tier_changed_while_it_was_being_looked_up_is_not_cached(
    portal_app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = make_account("free")
    limits_before = directory_module.get_tier_limits

    def upgraded_meanwhile(tier: str, overrides: Any) -> Any:
        with portal_app.app_context():
            db.session.get(Tenant, account.tenant_id).tier = "pro"
            db.session.commit()
        return limits_before(tier, overrides)

    monkeypatch.setattr(directory_module, "get_tier_limits", upgraded_meanwhile)
    assert client.get("/api/memories", headers=account.headers).headers["X-Tier"] == "free"
    monkeypatch.setattr(directory_module, "get_tier_limits", limits_before)
    assert client.get("/api/memories", headers=account.headers).headers["X-Tier"] == "pro"


def test_only_the_plain_spellings_of_a_key_header_are_remembered(
    app: Flask, client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    """A key padded with spaces still works, but its header value is not cached: else one key
    sent with ever different padding (up to the header size) would fill the cache."""
    account = make_account("free")
    directory = enforcement_for(app).directory
    padded = f"Bearer {' ' * 4000}{account.key}{' ' * 4000}"
    for headers in ({"Authorization": padded}, {"X-API-Key": f"  {account.key}"}):
        assert client.get("/api/memories", headers=headers).status_code == 200
    assert directory.known_key(padded) is None
    assert directory.known_key(f"  {account.key}") is None
    for plain in (f"Bearer {account.key}", account.key):
        header = {"Authorization": plain} if plain.startswith("Bearer") else {"X-API-Key": plain}
        assert client.get("/api/memories", headers=header).status_code == 200
        assert directory.known_key(plain) is not None


def test_the_key_of_a_deleted_tenant_is_refused(
    portal_app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")
    assert client.get("/api/memories", headers=account.headers).status_code == 200
    with portal_app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        for membership in tenant.memberships:  # the owner's (the ORM would null its tenant_id)
            db.session.delete(membership)
        db.session.delete(tenant)
        db.session.commit()
    assert client.get("/api/memories", headers=account.headers).status_code == 401


def test_a_client_sent_tenant_id_is_ignored(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    free, pro = make_account("free"), make_account("pro")
    headers = {**free.headers, "X-Tenant-Id": str(pro.tenant_id)}
    response = client.get(f"/api/memories?tenant_id={pro.tenant_id}", headers=headers)
    assert response.headers["X-Tier"] == "free"


def test_bad_bodies_get_400_not_500(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("pro")
    for body in ("not json", {"content": 5}, {"content": ""}, {"content": "x" * 10_001}):
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
        response = client.post("/api/memories", headers=account.headers, **kwargs)
        assert response.status_code == 400
        assert response.get_json()["error"]
        assert "X-RateLimit-Remaining-Minute" in response.headers
    federation = client.post("/api/federation", json={"memory_ids": "1"}, headers=account.headers)
    assert federation.status_code == 400


def test_decorator_order_does_not_matter(
    app: Flask, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    from flask import jsonify

    from portal.enforcement import current_caller, metered, requires_feature

    def tier() -> Any:
        return jsonify(tier=current_caller().tier)

    app.add_url_rule("/api/outer", "outer", requires_feature("federation")(metered(tier)))
    app.add_url_rule("/api/alone", "alone", requires_feature("federation")(tier))
    client = app.test_client()
    free, pro = make_account("free"), make_account("pro")
    for path in ("/api/outer", "/api/alone"):
        assert client.get(path).status_code == 401
        refused = client.get(path, headers=free.headers)
        assert refused.status_code == 403
        assert refused.get_json()["current_tier"] == "free"
        assert client.get(path, headers=pro.headers).get_json() == {"tier": "pro"}
    assert "X-RateLimit-Limit-Day" in client.get("/api/outer", headers=pro.headers).headers


def test_bad_keys_over_real_http_get_401_not_500(live_server: Any) -> None:
    """Raw bytes a test client cannot send: UTF-8 in a header, and a 16 KB header."""
    import http.client

    for name, value in (
        ("X-API-Key", "ключ-ck_test_".encode() + b"A" * 40),
        ("Authorization", b"Bearer " + "é".encode() * 30),
        ("X-API-Key", b"k" * 16_384),
    ):
        connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
        connection.putrequest("GET", "/api/memories")
        connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status in (400, 401, 431), (name, response.status)
        response.read()
        connection.close()


def test_headers_are_added_on_the_public_path_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Werkzeug without the raw header list gets the same headers through Headers.extend."""
    from flask import Response

    from portal.enforcement import flask as decorators

    headers = {"X-Tier": "free", "RateLimit": '"minute";r=9;t=60'}
    for raw in (True, False):
        monkeypatch.setattr(decorators, "_RAW_HEADER_LIST", raw)
        response = Response("ok")
        decorators._add_headers(response, headers)
        assert response.headers["X-Tier"] == "free"
        assert response.headers["RateLimit"] == '"minute";r=9;t=60'


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"X-API-Key": "{key}"}, {"Authorization": "{key}"}),
        ({"Authorization": "Bearer {key}"}, {"X-API-Key": "Bearer {key}"}),
    ],
)
def test_a_cached_key_does_not_let_a_wrong_spelling_in(
    client: FlaskClient,
    make_account: Callable[..., Account],
    first: dict[str, str],
    second: dict[str, str],
) -> None:
    """Once a key was sent correctly, the same key in the other header's spelling is still a 401."""
    account = make_account("free")
    spelt = lambda headers: {k: v.format(key=account.key) for k, v in headers.items()}  # noqa: E731
    assert client.get("/api/memories", headers=spelt(first)).status_code == 200
    response = client.get("/api/memories", headers=spelt(second))
    assert response.status_code == 401
    assert response.get_json()["error"]


def test_an_unreachable_database_is_a_503_not_a_500(
    enforcement: Enforcement, client: FlaskClient, make_account: Callable[..., Account]
) -> None:
    """Keys and tiers live in SQL: when it is gone the caller is told to retry, with JSON."""
    account = make_account("free")
    enforcement.engine.dispose()
    path = enforcement.engine.url.database
    assert path is not None
    os.rename(path, f"{path}.away")  # the next connection opens an empty file: no tables
    try:
        response = client.get("/api/memories", headers=account.headers)
    finally:
        enforcement.engine.dispose()
        os.replace(f"{path}.away", path)
    assert response.status_code == 503
    assert "database is unreachable" in response.get_json()["error"]
    assert client.get("/api/memories", headers=account.headers).status_code == 200
