"""The dashboard poll's round trips to PostgreSQL, counted on the wire (libpq's trace of the
protocol messages the portal sends), not from SQLAlchemy's events: a BEGIN, a ROLLBACK or the
pool's liveness ping cost a round trip as much as a SELECT does.

The budget: the pool's ping, then the poll's three SELECTs (the user with their memberships,
the subscription, the usage sums), and nothing else: the read-only poll runs without an
explicit transaction, so there is no BEGIN and no ROLLBACK."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from tests.dashboard.test_chart_when_changed import poll_url
from tests.dashboard.test_overage_card import overage_on
from tests.factory import Factory


@pytest.fixture
def wire_trace(app: Flask, db_backend: str) -> Iterator[Path]:
    """A file to which every new connection of the app's engine traces the messages it sends
    and receives (libpq's ``PQtrace``)."""
    assert db_backend == "postgresql"
    fd, name = tempfile.mkstemp(prefix="pq-trace-", suffix=".log")

    def trace(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.pgconn.trace(fd)

    with app.app_context():
        engine = db.engine
        engine.dispose()  # connections made from here on are traced
    sa.event.listen(engine, "connect", trace)
    try:
        yield Path(name)
    finally:
        sa.event.remove(engine, "connect", trace)
        with app.app_context():
            engine.dispose()
        os.close(fd)
        os.unlink(name)


def round_trips(trace: Path, start: int) -> list[str]:
    """The round trips traced after byte ``start``: each simple-protocol ``Query`` and each
    extended-protocol ``Sync`` the client sent is one wait for the server's answer."""
    lines = trace.read_bytes()[start:].decode(errors="replace").splitlines()
    sent = [line.split("\t") for line in lines if "\tF\t" in line]
    return [
        " ".join(fields[3:])[:80]
        for fields in sent
        if len(fields) > 3 and fields[3] in ("Query", "Sync")
    ]


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_a_poll_is_the_ping_and_three_selects_on_postgresql(
    app: Flask, factory: Factory, db_backend: str, wire_trace: Path
) -> None:
    account, _, _ = overage_on(factory)
    url = poll_url(account.client.get("/").get_data(as_text=True))
    headers = {"HX-Request": "true"}
    account.client.get(url, headers=headers)  # the connection made and set up
    for guide in (False, True):
        poll = url if guide else url.replace("guide=1", "guide=")
        start = wire_trace.stat().st_size
        response = account.client.get(poll, headers=headers)
        assert response.status_code == 200
        trips = round_trips(wire_trace, start)
        assert len(trips) == 4, trips
        assert not any("BEGIN" in trip or "ROLLBACK" in trip for trip in trips), trips


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_the_connection_goes_back_to_transactions_and_a_dead_one_is_replaced(
    app: Flask, factory: Factory, db_backend: str, wire_trace: Path
) -> None:
    """After a poll, the pooled connection runs the next request in a transaction again; and a
    connection the server dropped (as a PostgreSQL restart does) is replaced by the pool's ping,
    so the poll still answers."""
    account, _, _ = overage_on(factory)
    url = poll_url(account.client.get("/").get_data(as_text=True))
    headers = {"HX-Request": "true"}
    assert account.client.get(url, headers=headers).status_code == 200
    start = wire_trace.stat().st_size
    assert account.client.get("/").status_code == 200
    assert any("BEGIN" in trip for trip in round_trips(wire_trace, start))

    with app.app_context():
        url_of_database = db.engine.url
    # Another engine's connection, so the app's pooled one is the one that dies.
    outsider = sa.create_engine(url_of_database, poolclass=sa.pool.NullPool)
    with outsider.connect() as killer:
        killed = killer.scalars(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    outsider.dispose()
    assert killed and all(killed)
    response = account.client.get(url, headers=headers)
    assert response.status_code == 200
    assert 'id="usage-bars"' in response.text or "usage" in response.text


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_the_poll_connection_refuses_a_write(app: Flask, factory: Factory, db_backend: str) -> None:
    from flask_login import login_user

    from portal.dashboard.poll_reads import WriteInReadOnlyPoll, begin_poll_reads
    from portal.models import Tenant, User

    account = factory.account("pro", name="Acme")
    with app.test_request_context("/dashboard/usage-bars"):
        user = db.session.get(User, account.user_id)
        db.session.remove()
        login_user(user)
        begin_poll_reads()
        assert db.session.connection().connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        with pytest.raises(WriteInReadOnlyPoll):
            db.session.execute(sa.update(Tenant).values(name="changed"))
        db.session.remove()
    with app.app_context():
        assert db.session.scalar(sa.select(Tenant.name).where(Tenant.id == account.tenant_id))
        assert "changed" not in db.session.scalars(sa.select(Tenant.name)).all()
