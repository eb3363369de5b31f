"""Durable usage: counts gathered in a store are flushed to SQL ``usage_counter`` in batches.

One flush is one transaction of ``INSERT ... ON CONFLICT DO UPDATE SET value = value + excluded``
rows (the same statement on SQLite and PostgreSQL), at least every ``USAGE_FLUSH_SECONDS`` and
once more at shutdown (``stop``, also registered with ``atexit``). A batch SQL refuses goes back
to its store and is retried, so a database hiccup delays usage but never loses it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..models import Tenant, UsageCounter
from .stores.base import UsageBatch, UsageRows, UsageSource

log = logging.getLogger("continuum.enforcement")

EPOCH = date(1970, 1, 1)
_TABLE = UsageCounter.__table__


def day_to_date(day: int) -> date:
    return EPOCH + timedelta(days=day)


def date_to_day(when: date) -> int:
    return (when - EPOCH).days


def dialect_insert(engine: sa.Engine, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_update`` on this engine's database."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    return insert(table)


def _upsert(engine: sa.Engine) -> Any:
    statement = dialect_insert(engine, _TABLE)
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.tenant_id, _TABLE.c.metric, _TABLE.c.day],
        set_={"value": _TABLE.c.value + statement.excluded.value},
    )


def write_usage(engine: sa.Engine, rows: UsageRows) -> int:
    """Add ``rows`` to ``usage_counter`` in one transaction; returns the rows written.

    Rows of tenants deleted meanwhile are dropped (their counters went with them).
    """
    if not rows:
        return 0
    params: list[dict[str, Any]] = [
        {"tenant_id": tenant_id, "metric": metric, "day": day_to_date(day), "value": value}
        for (tenant_id, metric, day), value in rows.items()
    ]
    statement = _upsert(engine)
    try:
        with engine.begin() as connection:
            connection.execute(statement, params)
        return len(params)
    except sa.exc.IntegrityError:
        with engine.begin() as connection:
            wanted: set[int] = {row["tenant_id"] for row in params}
            alive = set(connection.scalars(sa.select(Tenant.id).where(Tenant.id.in_(wanted))))
            params = [row for row in params if row["tenant_id"] in alive]
            if params:
                connection.execute(statement, params)
        log.info("dropped usage of deleted tenants %s", sorted(wanted - alive))
        return len(params)


def sql_usage(engine: sa.Engine, tenant_id: int, metric: str, first: date, last: date) -> int:
    """The flushed total of ``metric`` for ``tenant_id`` from day ``first`` to ``last``."""
    query = sa.select(sa.func.coalesce(sa.func.sum(_TABLE.c.value), 0)).where(
        _TABLE.c.tenant_id == tenant_id,
        _TABLE.c.metric == metric,
        _TABLE.c.day >= first,
        _TABLE.c.day <= last,
    )
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)


class UsageFlusher:
    """A daemon thread moving pending usage from the stores to SQL every ``interval`` seconds."""

    def __init__(
        self, engine: sa.Engine, sources: tuple[UsageSource, ...], interval: float = 1.0
    ) -> None:
        self.engine = engine
        self.sources = sources
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: True until ``start`` (a plain attribute: it is read on every admitted call).
        self.idle = True
        #: Batches SQL has but their store could not be told yet (acknowledged before any take).
        self._unacknowledged: list[tuple[UsageSource, UsageBatch]] = []

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="continuum-usage-flusher", daemon=True
            )
            self._thread.start()
            self.idle = False
            atexit.register(self.stop)

    def _run(self) -> None:
        # A fixed rate, not a fixed pause: the time a flush takes does not stretch the interval.
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due = max(due + self.interval, time.monotonic())
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the thread must outlive any one bad flush
                log.exception("usage flush failed")

    def flush(self) -> int:
        """Move every pending count to SQL now; returns the rows written."""
        written = 0
        with self._lock:
            self._unacknowledged = self._acknowledge(self._unacknowledged)
            for source in self.sources:
                try:
                    batch = source.take_usage()
                except Exception as error:  # noqa: BLE001 - a store being down must not kill the thread
                    log.warning("could not take pending usage from %s: %s", source, error)
                    continue
                if not batch.handles:
                    continue
                try:
                    written += write_usage(self.engine, batch.rows)
                except Exception:  # noqa: BLE001 - keep the counts and retry next time
                    log.exception("usage flush of %d rows failed; retrying", len(batch.rows))
                    source.return_usage(batch)
                    continue
                self._unacknowledged += self._acknowledge([(source, batch)])
        return written

    @staticmethod
    def _acknowledge(
        batches: list[tuple[UsageSource, UsageBatch]],
    ) -> list[tuple[UsageSource, UsageBatch]]:
        """Tell each store SQL has its batch; returns the ones that could not be told."""
        failed = []
        for source, batch in batches:
            try:
                source.ack_usage(batch)
            except Exception as error:  # noqa: BLE001 - retried first thing next flush
                log.warning("could not acknowledge a flushed usage batch: %s", error)
                failed.append((source, batch))
        return failed

    def stop(self) -> None:
        """Stop the thread and flush what is left (graceful shutdown loses nothing)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()
        atexit.unregister(self.stop)
