"""The overage half of the usage flush: outbox rows written with the counters, refunds taken off
rows not yet sent, deleted tenants dropped."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.enforcement import Enforcement
from portal.enforcement.engine import day_window
from portal.enforcement.metering import write_batch
from portal.enforcement.overage import period_metric
from portal.enforcement.stores.base import UsageBatch
from portal.models import MeterReport, Tenant
from tests.enforcement.support import PERIOD, START, outbox
from tests.factory import Account

TODAY = day_window(START)
METRIC = period_metric(*PERIOD)


def flush(enforcement: Enforcement, tenant_id: int, calls: int, part: str = "") -> int:
    """Write one batch holding ``calls`` of the tenant's overage calls this period."""
    batch = UsageBatch({part or f"part-{calls}": {(tenant_id, METRIC, TODAY): calls}})
    return write_batch(enforcement.engine, batch, START)


@pytest.mark.both_dbs
def test_a_batch_writes_one_row_per_tenant_and_period(
    enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    one, two = make_account("pro"), make_account("pro")
    later = period_metric(PERIOD[1], PERIOD[1] + 31 * 86_400)
    rows = {
        (one.tenant_id, METRIC, TODAY - 1): 2,
        (one.tenant_id, METRIC, TODAY): 3,  # the same period on two days: one row
        (one.tenant_id, later, TODAY): 4,  # a period that has not begun: stamped at its start
        (two.tenant_id, METRIC, TODAY): 1,
        (two.tenant_id, "api_calls_overage", TODAY): 1,
    }
    assert write_batch(enforcement.engine, UsageBatch({"a": rows}), START) == 4
    assert outbox(enforcement, one.tenant_id) == [
        (PERIOD[0], 5, int(START)),
        (PERIOD[1], 4, PERIOD[1]),
    ]
    assert outbox(enforcement, two.tenant_id) == [(PERIOD[0], 1, int(START))]


@pytest.mark.both_dbs
def test_a_refund_comes_off_the_rows_not_yet_sent(
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant_id = make_account("pro").tenant_id
    flush(enforcement, tenant_id, 2)
    flush(enforcement, tenant_id, 5)
    flush(enforcement, tenant_id, -6)  # newest first: 5 from the second row, 1 from the first
    assert outbox(enforcement, tenant_id) == [(PERIOD[0], 1, int(START))]
    with enforcement.engine.begin() as connection:  # a reporter has it on its way to Stripe
        claimed = datetime.now(UTC) + timedelta(minutes=1)
        connection.execute(sa.update(MeterReport).values(claimed_until=claimed))
    with caplog.at_level(logging.WARNING, "continuum.enforcement"):
        flush(enforcement, tenant_id, -1)
    assert outbox(enforcement, tenant_id) == [(PERIOD[0], 1, int(START))]
    assert "1 overage calls of tenant" in caplog.text


@pytest.mark.both_dbs
def test_overage_of_a_deleted_tenant_is_dropped(
    enforcement: Enforcement, make_account: Callable[..., Account]
) -> None:
    gone, kept = make_account("pro"), make_account("pro")
    with enforcement.engine.begin() as connection:
        connection.execute(sa.delete(Tenant).where(Tenant.id == gone.tenant_id))
    rows = {(gone.tenant_id, METRIC, TODAY): 1, (kept.tenant_id, METRIC, TODAY): 2}
    write_batch(enforcement.engine, UsageBatch({"a": rows}), START)
    assert outbox(enforcement, kept.tenant_id) == [(PERIOD[0], 2, int(START))]


def test_overage_periods_are_counted_by_admissions_only(enforcement: Enforcement) -> None:
    with pytest.raises(ValueError, match="admissions only"):
        enforcement.add_usage(1, METRIC, 1)
