"""The stripe_event idempotency record: claim an event once, mark it done or failed.

A claim is one upsert: a new event id is inserted, a failed (unprocessed) one is claimed
again, a processed one is left alone. Concurrent deliveries of one event serialize on the
row, so only one of them does the work.
"""

from __future__ import annotations

from typing import Protocol, cast

import sqlalchemy as sa

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


def is_processed(event_id: str) -> bool:
    """Whether ``event_id`` was processed already (a read of committed state: nothing is
    claimed, no lock is taken).

    Read on the session's connection, which a first delivery goes on to claim with: one pool
    checkout (and on PostgreSQL one pre-ping and one transaction) per delivery instead of two.
    On SQLite a read begins no transaction (the driver begins one at the first write); a
    duplicate's read is rolled back with the request's session.
    """
    row = db.session.connection().execute(_PROCESSED_AT, {"event_id": event_id}).first()
    return row is not None and row[0] is not None


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
