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
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from portal.db import dialect_insert
from portal.enforcement.stores.base import UsageBatch, UsageRows, UsageSource, merge_rows
from portal.models import Tenant, UsageBatchLedger, UsageCounter

log = logging.getLogger("continuum.enforcement")

EPOCH = date(1970, 1, 1)
#: How long a flushed batch's handle stays in the ledger: far longer than any batch can wait
#: in Redis unacknowledged (it is retaken after ``STALE_BATCH_SECONDS`` by any live flusher).
LEDGER_KEPT = timedelta(days=7)
_TABLE = UsageCounter.__table__
_LEDGER = UsageBatchLedger.__table__


def day_to_date(day: int) -> date:
    return EPOCH + timedelta(days=day)


def date_to_day(when: date) -> int:
    return (when - EPOCH).days


def _upsert(engine: sa.Engine) -> Any:
    statement = dialect_insert(engine, _TABLE)
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.tenant_id, _TABLE.c.metric, _TABLE.c.day],
        set_={"value": _TABLE.c.value + statement.excluded.value},
    )


def write_usage(engine: sa.Engine, rows: UsageRows) -> int:
    """Add ``rows`` to ``usage_counter`` in one transaction; returns the rows written."""
    return write_batch(engine, UsageBatch({"rows": rows}))


def write_batch(engine: sa.Engine, batch: UsageBatch) -> int:
    """Add a taken batch to ``usage_counter`` in one transaction; returns the rows written.

    A ledgered batch's handles go into ``usage_batch_ledger`` in that same transaction, and a
    part whose handle is there already is skipped: SQL counts every part exactly once, however
    often it is taken. Rows of tenants deleted meanwhile are dropped (their counters went with
    them). Either conflict (a deleted tenant, or another flusher that recorded a part first)
    rolls the transaction back, and it is tried once more knowing about it.
    """
    if not batch.parts:
        return 0
    try:
        with engine.begin() as connection:
            return _write(connection, batch, drop_deleted=False)
    except sa.exc.IntegrityError:
        with engine.begin() as connection:
            return _write(connection, batch, drop_deleted=True)


def _write(connection: sa.Connection, batch: UsageBatch, *, drop_deleted: bool) -> int:
    parts = batch.parts
    if batch.ledgered:
        parts = _claim_in_ledger(connection, parts)
    params: list[dict[str, Any]] = [
        {"tenant_id": tenant_id, "metric": metric, "day": day_to_date(day), "value": value}
        for (tenant_id, metric, day), value in merge_rows(parts.values()).items()
    ]
    if drop_deleted and params:
        wanted: set[int] = {row["tenant_id"] for row in params}
        alive = set(connection.scalars(sa.select(Tenant.id).where(Tenant.id.in_(wanted))))
        params = [row for row in params if row["tenant_id"] in alive]
        if wanted - alive:
            log.info("dropped usage of deleted tenants %s", sorted(wanted - alive))
    if params:
        connection.execute(_upsert(connection.engine), params)
    return len(params)


def _claim_in_ledger(
    connection: sa.Connection, parts: dict[str, UsageRows]
) -> dict[str, UsageRows]:
    """Record ``parts``' handles in the ledger; returns the parts not recorded before."""
    done = set(
        connection.scalars(sa.select(_LEDGER.c.batch_id).where(_LEDGER.c.batch_id.in_(list(parts))))
    )
    if done:
        log.warning("usage batches already in SQL were taken again and skipped: %s", sorted(done))
    fresh = {handle: rows for handle, rows in parts.items() if handle not in done}
    now = datetime.now(UTC)
    if fresh:
        connection.execute(
            sa.insert(_LEDGER), [{"batch_id": handle, "flushed_at": now} for handle in fresh]
        )
    connection.execute(sa.delete(_LEDGER).where(_LEDGER.c.flushed_at < now - LEDGER_KEPT))
    return fresh


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
        #: Called between a batch's commit and its acknowledgement (a fault-injection point
        #: for tests: a flusher dying right there must not get the batch counted twice).
        self.after_commit: Callable[[UsageBatch], None] | None = None

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
                    written += write_batch(self.engine, batch)
                except Exception:  # noqa: BLE001 - keep the counts and retry next time
                    log.exception("usage flush of %d rows failed; retrying", len(batch.rows))
                    self._give_back(source, batch)
                    continue
                if self.after_commit is not None:
                    self.after_commit(batch)
                self._unacknowledged += self._acknowledge([(source, batch)])
        return written

    @staticmethod
    def _give_back(source: UsageSource, batch: UsageBatch) -> None:
        """Return a batch SQL refused; a store that cannot take it now keeps it claimed and
        hands it out again once the claim is stale, so the other sources still flush."""
        try:
            source.return_usage(batch)
        except Exception as error:  # noqa: BLE001 - the batch is retaken later
            log.warning("could not return an unflushed usage batch to %s: %s", source, error)

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
