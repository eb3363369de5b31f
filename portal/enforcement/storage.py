"""What a tenant stores (memories, embeddings, bytes), read and written in ``storage_usage``.

``StorageGauges`` keeps each tenant's figures as this process last read or wrote them, so the
quota check of a write costs no SQL: a tenant is re-read at most every ``CACHE_SECONDS``, and
``record_storage_usage`` writes through (SQL first, then the cache). Writes made by other
processes are seen within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from portal.db import dialect_insert
from portal.enforcement.directory import CACHE_SECONDS
from portal.enforcement.engine import StorageSnapshot
from portal.models import StorageUsage

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


class StorageGauges:
    """Each tenant's storage figures, cached per process with write-through."""

    def __init__(self, engine: sa.Engine, seconds: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.seconds = seconds
        self._entries: dict[int, tuple[StorageSnapshot, float]] = {}
        #: Per tenant, bumped when a write starts and again when its result is cached: a read
        #: that saw the number change meanwhile may hold older figures and is not cached.
        self._writes: dict[int, int] = {}
        self._locks: dict[int, threading.Lock] = {}

    def read(self, tenant_id: int) -> StorageSnapshot:
        entry = self._entries.get(tenant_id)
        now = time.monotonic()
        if entry is not None and entry[1] > now:
            return entry[0]
        writes = self._writes.get(tenant_id, 0)
        snapshot = read_storage(self.engine, tenant_id)
        if self._writes.get(tenant_id, 0) == writes:
            self._entries[tenant_id] = (snapshot, now + self.seconds)
        return snapshot

    def write(self, tenant_id: int, counts: dict[str, int], *, delta: bool) -> StorageSnapshot:
        """``write_storage`` through the cache; one tenant's writes are cached in commit order."""
        with self._locks.setdefault(tenant_id, threading.Lock()):
            self._writes[tenant_id] = self._writes.get(tenant_id, 0) + 1
            try:
                snapshot = write_storage(self.engine, tenant_id, counts, delta=delta)
                self._entries[tenant_id] = (snapshot, time.monotonic() + self.seconds)
            finally:
                self._writes[tenant_id] += 1
        return snapshot
