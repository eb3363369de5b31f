"""Durable usage: counts gathered in a store are written to SQL ``usage_counter`` in batches.

One batch is one transaction of ``INSERT ... ON CONFLICT DO UPDATE SET value = value + excluded``
rows (the same statement on SQLite and PostgreSQL), plus, for the overage calls it holds, one
``meter_report`` outbox row per tenant and period: what the reporter sends to Stripe's meter.
The write-behind flusher (``flusher.py``) sends a batch every ``USAGE_FLUSH_SECONDS`` and once
more at shutdown.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from portal.db import dialect_insert
from portal.enforcement.outbox import outbox_rows, write_outbox
from portal.enforcement.stores.base import UsageBatch, UsageRows, merge_rows
from portal.models import Tenant, UsageBatchLedger, UsageCounter

log = logging.getLogger("continuum.enforcement")

EPOCH = date(1970, 1, 1)
#: How long a flushed batch's handle stays in the ledger: far longer than any batch can wait
#: in Redis unacknowledged (it is retaken after ``STALE_BATCH_SECONDS`` by any live flusher).
LEDGER_KEPT = timedelta(days=7)
_TABLE = UsageCounter.__table__


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


def write_batch(engine: sa.Engine, batch: UsageBatch, now: float | None = None) -> int:
    """Add a taken batch to ``usage_counter`` and its overage calls to the ``meter_report``
    outbox (events at ``now``, default the wall clock) in one transaction; returns the rows
    written.

    A ledgered batch's handles go into ``usage_batch_ledger`` in that same transaction, and a
    part whose handle is there already is skipped: SQL counts every part exactly once, however
    often it is taken, and so never writes its outbox rows twice. Rows of tenants deleted
    meanwhile are dropped (their counters went with them). Either conflict (a deleted tenant,
    or another flusher that recorded a part first) rolls the transaction back, and it is tried
    once more knowing about it.
    """
    if not batch.parts:
        return 0
    flushed_at = time.time() if now is None else now
    try:
        with engine.begin() as connection:
            return _write(connection, batch, flushed_at, drop_deleted=False)
    except sa.exc.IntegrityError:
        with engine.begin() as connection:
            return _write(connection, batch, flushed_at, drop_deleted=True)


def _write(connection: sa.Connection, batch: UsageBatch, now: float, *, drop_deleted: bool) -> int:
    parts = batch.parts
    if batch.ledgered:
        parts = _claim_in_ledger(connection, parts)
    counters, outbox = outbox_rows(merge_rows(parts.values()))
    params: list[dict[str, Any]] = [
        {"tenant_id": tenant_id, "metric": metric, "day": day_to_date(day), "value": value}
        for (tenant_id, metric, day), value in counters.items()
    ]
    if drop_deleted and (params or outbox):
        wanted: set[int] = {row["tenant_id"] for row in params} | {key[0] for key in outbox}
        alive = set(connection.scalars(sa.select(Tenant.id).where(Tenant.id.in_(wanted))))
        params = [row for row in params if row["tenant_id"] in alive]
        outbox = {key: calls for key, calls in outbox.items() if key[0] in alive}
        if wanted - alive:
            log.info("dropped usage of deleted tenants %s", sorted(wanted - alive))
    if params:
        connection.execute(_upsert(connection.engine), params)
    return len(params) + write_outbox(connection, outbox, now)


def _claim_in_ledger(
    connection: sa.Connection, parts: dict[str, UsageRows]
) -> dict[str, UsageRows]:
    """Record ``parts``' handles in the ledger; returns the parts not recorded before."""
    done = set(
        connection.scalars(
            sa.select(UsageBatchLedger.batch_id).where(UsageBatchLedger.batch_id.in_(list(parts)))
        )
    )
    if done:
        log.warning("usage batches already in SQL were taken again and skipped: %s", sorted(done))
    fresh = {handle: rows for handle, rows in parts.items() if handle not in done}
    now = datetime.now(UTC)
    if fresh:
        connection.execute(
            sa.insert(UsageBatchLedger),
            [{"batch_id": handle, "flushed_at": now} for handle in fresh],
        )
    connection.execute(
        sa.delete(UsageBatchLedger).where(UsageBatchLedger.flushed_at < now - LEDGER_KEPT)
    )
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
