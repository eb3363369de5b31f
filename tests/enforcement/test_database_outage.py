"""PostgreSQL going away mid-run, behind a TCP proxy the test kills (issue 12, item 7): the API
routes and the plain functions answer 503 with a JSON body, never a 500, and a memory is never
kept without its storage being counted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.enforcement import DatabaseUnavailable, get_storage_usage, record_storage_usage
from tests.conftest import truncate_all
from tests.factory import Account
from tests.outage import TcpProxy, tcp_proxy


@pytest.fixture
def proxy(postgres_database: str) -> Iterator[TcpProxy]:
    truncate_all(postgres_database)
    url = sa.engine.make_url(postgres_database)
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


@pytest.fixture
def database_url(postgres_database: str, proxy: TcpProxy) -> str:
    """The test's PostgreSQL database, reached through the proxy."""
    url = sa.engine.make_url(postgres_database).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def _eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """``check()``'s first truthy answer; the pools reconnect on their next use."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_a_database_outage_is_a_503_and_never_half_records_a_memory(
    portal_app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    proxy: TcpProxy,
) -> None:
    account = make_account("pro")
    bearer = {"Authorization": f"Bearer {account.key}"}
    first = client.post("/api/memories", json={"content": "before"}, headers=account.headers)
    assert first.status_code == 201

    proxy.kill()

    written = client.post("/api/memories", json={"content": "during"}, headers=account.headers)
    assert written.status_code == 503, written.get_data(as_text=True)
    assert "retry" in written.get_json()["error"]
    listed = client.get("/api/memories", headers=account.headers)
    assert listed.status_code == 503
    assert "error" in listed.get_json()
    portal_answer = portal_app.test_client().get("/v1/billing/subscription", headers=bearer)
    assert portal_answer.status_code == 503
    assert "database" in portal_answer.get_json()["error"]
    with portal_app.app_context():
        with pytest.raises(DatabaseUnavailable) as caught:
            get_storage_usage(account.tenant_id)
        assert caught.value.status_code == 503
        with pytest.raises(DatabaseUnavailable):
            record_storage_usage(account.tenant_id, 1, 1, 1, delta=True)

    proxy.revive()

    def after() -> Any:
        response = client.get("/api/memories", headers=account.headers)
        return response.get_json() if response.status_code == 200 else None

    body = _eventually(after)
    assert body is not None, "the API did not recover once the database was back"
    assert [memory["content"] for memory in body["memories"]] == ["before"]
    assert body["storage"] == {"memories": 1, "embeddings": 1, "bytes": len("before")}
