"""API keys' last-used times: noted per call, written behind by the flusher, never per request."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from portal.enforcement import Enforcement
from portal.models import ApiKey
from tests.factory import Account


def last_used_at(enforcement: Enforcement, key_id: int) -> datetime | None:
    with enforcement.engine.connect() as connection:
        value: datetime | None = connection.scalar(
            sa.select(ApiKey.last_used_at).where(ApiKey.id == key_id)
        )
    return value


@pytest.mark.both_dbs
def test_last_used_is_batched_not_written_per_call(
    client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    account = make_account("pro")
    statements: list[str] = []
    sa.event.listen(enforcement.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for _ in range(30):
        assert client.get("/api/memories", headers=account.headers).status_code == 200
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in statements)
    assert last_used_at(enforcement, account.key_id) is None
    assert enforcement.flusher.flush_last_used() == 1
    assert [s for s in statements if s.lstrip().upper().startswith("UPDATE")] != []
    assert last_used_at(enforcement, account.key_id) is not None
    assert enforcement.flusher.flush_last_used() == 0


def test_the_flusher_writes_last_used_with_no_later_request(
    client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    enforcement.last_used.interval = 0.05  # before the first call starts the flusher
    account = make_account("pro")
    assert client.get("/api/memories", headers=account.headers).status_code == 200
    deadline = time.monotonic() + 5
    while last_used_at(enforcement, account.key_id) is None:
        assert time.monotonic() < deadline, "last_used_at was not written behind"
        time.sleep(0.02)


def test_stop_writes_last_used_and_usage(
    client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    """Shutdown flushes both things the flusher holds, whatever their intervals."""
    enforcement.flusher.interval = 3600
    enforcement.last_used.interval = 3600
    account = make_account("pro")
    before = datetime.now(UTC).replace(microsecond=0)
    assert client.get("/api/memories", headers=account.headers).status_code == 200
    assert last_used_at(enforcement, account.key_id) is None
    enforcement.stop()
    used = last_used_at(enforcement, account.key_id)
    assert used is not None and used >= before
    assert enforcement.usage(account.tenant_id, "api_calls", 0, 10**6) == 1


def test_last_used_never_moves_backwards(
    client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    """Another process may already have written a later time: a late flush keeps it."""
    account = make_account("pro")
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    with enforcement.engine.begin() as connection:
        connection.execute(
            sa.update(ApiKey).where(ApiKey.id == account.key_id).values(last_used_at=later)
        )
    assert client.get("/api/memories", headers=account.headers).status_code == 200
    enforcement.flusher.flush_last_used()
    assert last_used_at(enforcement, account.key_id) == later


def test_times_sql_refused_are_written_by_the_next_flush(
    client: FlaskClient, enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    account = make_account("pro")
    assert client.get("/api/memories", headers=account.headers).status_code == 200
    enforcement.engine.dispose()
    path = enforcement.engine.url.database
    assert path is not None
    os.rename(path, f"{path}.away")  # the next connection opens an empty file: no tables
    try:
        assert enforcement.flusher.flush_last_used() == 0
    finally:
        enforcement.engine.dispose()
        os.replace(f"{path}.away", path)
    assert enforcement.flusher.flush_last_used() == 1
    assert last_used_at(enforcement, account.key_id) is not None
