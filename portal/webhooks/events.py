"""The stripe_event idempotency record: claim an event once, mark it done or failed.

A claim is one upsert: a new event id is inserted, a failed (unprocessed) one is claimed
again, a processed one is left alone. Concurrent deliveries of one event serialize on the
row, so only one of them does the work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from portal.db import dialect_insert
from portal.extensions import db
from portal.models import StripeEvent, Tenant, utcnow

_ERROR_MAX = 2000


class RecordedEvent(Protocol):
    """What the ledger keeps of an event: a snapshot ``WebhookEvent`` or a ``ThinEvent``."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def created(self) -> int: ...


def claim(event: RecordedEvent) -> bool:
    """Record ``event`` in the current transaction; False when it was already processed."""
    connection = db.session.connection()
    stmt = _CLAIMS.get(connection.dialect.name)
    if stmt is None:
        stmt = _CLAIMS[connection.dialect.name] = _claim_statement(connection)
    params = {"id": event.id, "type": event.type, "created": event.created, "at": utcnow()}
    return connection.execute(stmt, params).first() is not None


class Known(NamedTuple):
    """What the ledger and the tenants say of a delivery before it is claimed."""

    event_id: str
    customer_id: str | None
    processed: bool
    #: The tenant of ``customer_id`` (None: not one of ours).
    tenant_id: int | None


def look_up(event_id: str, customer_id: str | None) -> Known:
    """Whether ``event_id`` was processed already, and the tenant of ``customer_id``: one
    statement (one round trip on PostgreSQL), a read of committed state, nothing claimed or
    locked. A duplicate is answered from it; a first delivery is claimed with its tenant.

    On PostgreSQL the read goes on the session's connection, which a first delivery goes on
    to claim with: one pool checkout, pre-ping and transaction per delivery instead of two
    (each a round trip to the server). On SQLite a checkout costs no round trip, and the read
    goes on a connection of its own, outside the session, so a duplicate costs no session
    transaction to begin and roll back (a sixth of its cost).
    """
    params = {"event_id": event_id, "customer": customer_id or None}
    engine = db.engine
    if engine.dialect.name == "sqlite":
        row = _read_on_own_connection(engine, params)
    else:
        row = tuple(db.session.connection().execute(_LOOK_UP, params).one())
    return Known(event_id, customer_id, row[0] is not None, row[1])


def _read_on_own_connection(engine: sa.Engine, params: Mapping[str, object]) -> tuple[Any, ...]:
    """``_LOOK_UP`` on a pooled DB-API connection of its own, compiled once: the statement
    takes the driver a few microseconds, and the Core connection and result around it took
    five times that. Nothing is written: the pool's reset on return ends the read."""
    compiled = _COMPILED.get(engine.dialect.name)
    if compiled is None:
        compiled = _LOOK_UP.compile(dialect=engine.dialect)
        _COMPILED[engine.dialect.name] = compiled
    names = compiled.positiontup or []
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(compiled.string, [params[name] for name in names])
        row = cursor.fetchone()
        cursor.close()
    finally:
        connection.close()  # back to the pool
    return tuple(row or (None, None))  # one row: a SELECT of two scalar subqueries


def tenant_id_for_customer(customer_id: str | None) -> int | None:
    """The id of the tenant whose Stripe customer is ``customer_id`` (None: not one of ours),
    read as a column, not an entity: ``Delivery.tenant`` loads the tenant if a handler needs it.
    """
    if not customer_id:
        return None
    return db.session.connection().execute(_TENANT_ID, {"customer": customer_id}).scalar()


def mark_processed(event: RecordedEvent, tenant_id: int | None = None) -> None:
    """Close the event, noting the tenant it was applied to (the operator console lists them)."""
    db.session.connection().execute(
        _MARK_PROCESSED, {"event_id": event.id, "at": utcnow(), "tenant": tenant_id}
    )


# The intake runs these on every delivery: built once, as Core statements with bound
# parameters, and run on the session's connection (no ORM bookkeeping per event).
_EVENTS = cast(sa.Table, StripeEvent.__table__)
#: The claim statement, per dialect name.
_CLAIMS: dict[str, sa.Executable] = {}
_PROCESSED_AT = sa.select(_EVENTS.c.processed_at).where(_EVENTS.c.id == sa.bindparam("event_id"))
_TENANT_ID = sa.select(Tenant.id).where(Tenant.stripe_customer_id == sa.bindparam("customer"))
# stripe_customer_id is unique: the tenant subquery gives at most one row.
_LOOK_UP = sa.select(_PROCESSED_AT.scalar_subquery(), _TENANT_ID.scalar_subquery())
#: ``_LOOK_UP`` compiled, per dialect name (SQLite's positional parameters).
_COMPILED: dict[str, SQLCompiler] = {}
_MARK_PROCESSED = (
    sa.update(_EVENTS)
    .where(_EVENTS.c.id == sa.bindparam("event_id"))
    .values(processed_at=sa.bindparam("at"), error=None, tenant_id=sa.bindparam("tenant"))
)


def _claim_statement(connection: sa.Connection) -> sa.Executable:
    """Insert a new event id; claim a failed (unprocessed) one again; leave a processed one
    alone (no row comes back)."""
    stmt = dialect_insert(connection, _EVENTS).values(
        id=sa.bindparam("id"),
        type=sa.bindparam("type"),
        created=sa.bindparam("created"),
        received_at=sa.bindparam("at"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={"received_at": stmt.excluded.received_at},
        where=_EVENTS.c.processed_at.is_(None),
    ).returning(_EVENTS.c.id)


def record_failure(event: RecordedEvent, error: BaseException, *, final: bool = False) -> None:
    """In a fresh transaction, note why ``event`` failed.

    It stays unprocessed, so a retry works on it again, unless ``final``: then retrying
    cannot help (the object is gone at Stripe) and it is closed with the error noted.
    """
    db.session.rollback()
    message = f"{error.__class__.__name__}: {error}"[:_ERROR_MAX]
    processed_at = utcnow() if final else None
    table = StripeEvent.__table__
    stmt = dialect_insert(db.session.get_bind(), table).values(
        id=event.id,
        type=event.type,
        created=event.created,
        received_at=utcnow(),
        error=message,
        processed_at=processed_at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={"error": stmt.excluded.error, "processed_at": stmt.excluded.processed_at},
        where=table.c.processed_at.is_(None),
    )
    db.session.execute(stmt)
    db.session.commit()
