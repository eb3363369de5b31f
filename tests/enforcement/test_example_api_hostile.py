"""The example API refuses hostile JSON with a 400 and a message, and stores and records
nothing for it (issue 12, item 1): a body nested 100,000 levels deep used to raise
RecursionError through ``get_json(silent=True)``, and a lone surrogate in a memory's content
failed at ``.encode()`` after the call was admitted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.enforcement import get_storage_usage
from tests.factory import Account

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.both_dbs
@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/memories", DEEP, "nested at most 32 levels"),
        ("/api/memories", '{"content": ' + DEEP + "}", "nested at most 32 levels"),
        ("/api/memories", '{"content": "\\ud800"}', "unpaired surrogate"),
        ("/api/memories", '{"content": "a\\udfffb"}', "unpaired surrogate"),
        ("/api/memories", '{"content": "nul \\u0000"}', "NUL"),
        ("/api/federation", DEEP, "nested at most 32 levels"),
    ],
)
def test_hostile_json_is_a_400_and_nothing_is_stored(
    app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    path: str,
    body: str,
    message: str,
) -> None:
    account = make_account("pro")
    response = client.post(
        path, data=body, content_type="application/json", headers=account.headers
    )
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    listed = client.get("/api/memories", headers=account.headers).get_json()
    assert listed["memories"] == []
    with app.app_context():
        assert get_storage_usage(account.tenant_id).as_body() == {
            "memories": 0,
            "embeddings": 0,
            "bytes": 0,
        }
