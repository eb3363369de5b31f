"""The stripe_event idempotency record: claim an event once, mark it done or failed.

A claim is one upsert: a new event id is inserted, a failed (unprocessed) one is claimed
again, a processed one is left alone. Concurrent deliveries of one event serialize on the
row, so only one of them does the work.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa

from portal.db import dialect_insert
from portal.extensions import db
from portal.models import StripeEvent, utcnow

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
    table = StripeEvent.__table__
    stmt = dialect_insert(db.session.get_bind(), table).values(
        id=event.id, type=event.type, created=event.created, received_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={"received_at": stmt.excluded.received_at},
        where=table.c.processed_at.is_(None),
    ).returning(table.c.id)
    return db.session.execute(stmt).first() is not None


def mark_processed(event: RecordedEvent, tenant_id: int | None = None) -> None:
    """Close the event, noting the tenant it was applied to (the operator console lists them)."""
    db.session.execute(
        sa.update(StripeEvent)
        .where(StripeEvent.id == event.id)
        .values(processed_at=utcnow(), error=None, tenant_id=tenant_id)
    )


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
