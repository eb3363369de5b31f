"""What a tenant stores (memories, embeddings, bytes), read and written in ``storage_usage``."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from ..models import StorageUsage
from .engine import StorageSnapshot
from .metering import dialect_insert

_TABLE = StorageUsage.__table__
_COUNTS = ("memories", "embeddings", "bytes_used")


def read_storage(engine: sa.Engine, tenant_id: int) -> StorageSnapshot:
    query = sa.select(_TABLE.c.memories, _TABLE.c.embeddings, _TABLE.c.bytes_used).where(
        _TABLE.c.tenant_id == tenant_id
    )
    with engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    if row is None:
        return StorageSnapshot()
    return StorageSnapshot(row.memories, row.embeddings, row.bytes_used)


def write_storage(
    engine: sa.Engine, tenant_id: int, counts: dict[str, int], *, delta: bool
) -> StorageSnapshot:
    """Set the tenant's storage counts, or add to them atomically when ``delta`` is true."""
    statement = dialect_insert(engine, _TABLE).values(
        tenant_id=tenant_id, updated_at=datetime.now(UTC), **counts
    )
    if delta:
        updates = {name: _TABLE.c[name] + statement.excluded[name] for name in _COUNTS}
    else:
        updates = {name: statement.excluded[name] for name in _COUNTS}
    updates["updated_at"] = statement.excluded.updated_at
    statement = statement.on_conflict_do_update(index_elements=[_TABLE.c.tenant_id], set_=updates)
    with engine.begin() as connection:
        connection.execute(statement)
    return read_storage(engine, tenant_id)
