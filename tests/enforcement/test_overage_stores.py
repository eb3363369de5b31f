"""Overage in the counter store contract: one atomic admission, on the in-process store and on
Redis alike (past the day's quota, under the period's allowance; minute and slots still hold)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from portal.enforcement.engine import CONCURRENT, DAY, MINUTE, OVERAGE_CAP, Admission, day_window
from portal.enforcement.overage import OVERAGE_CALLS, OverageWindow
from portal.enforcement.stores.base import CounterStore, Quota
from tests.enforcement.conftest import StoreMaker
from tests.enforcement.support import START, redis_store

LEASE = 30.0
TODAY = day_window(START)
QUOTA = Quota(per_minute=100, per_day=3, concurrent=50)
#: A period around START: 2026-11-15 to 2026-12-15 (UTC midnights).
PERIOD = (1_794_700_800, 1_797_292_800)


def window(allowance: int = 4, period: tuple[int, int] = PERIOD) -> OverageWindow:
    return OverageWindow(*period, allowance, allowance // 100)


def admit(
    store: CounterStore,
    overage: OverageWindow | None = None,
    quota: Quota = QUOTA,
    now: float = START,
) -> Admission:
    return store.acquire(1, quota, now, LEASE, ("api_calls",), overage)


def admit_and_end(
    store: CounterStore, overage: OverageWindow | None = None, quota: Quota = QUOTA
) -> Admission:
    admission = admit(store, overage, quota)
    if admission.lease is not None:
        store.release(1, admission.lease)
    return admission


def test_past_the_quota_overage_calls_are_admitted_up_to_the_allowance(
    store: CounterStore,
) -> None:
    overage = window(allowance=4)
    normal = [admit_and_end(store, overage) for _ in range(3)]
    assert [(a.refused, a.overage_calls, a.billed) for a in normal] == [(None, -1, False)] * 3
    billed = [admit_and_end(store, overage) for _ in range(4)]
    assert [a.overage_calls for a in billed] == [1, 2, 3, 4]
    assert all(a.billed and a.lease is not None for a in billed)
    assert [a.day_count for a in billed] == [4, 5, 6, 7]  # counted in the day as usual
    capped = admit(store, overage)
    assert (capped.refused, capped.overage_calls, capped.lease) == (OVERAGE_CAP, 4, None)
    assert admit(store, None).refused == DAY  # overage off: the day's refusal as before
    assert store.pending_usage(1, "api_calls", [TODAY]) == 7
    assert store.pending_usage(1, OVERAGE_CALLS, [TODAY]) == 4
    assert store.pending_usage(1, overage.metric, [TODAY]) == 4
    assert store.live_counts(1, START).day == 7


def test_minute_and_concurrency_hold_for_overage_calls(store: CounterStore) -> None:
    quota = Quota(per_minute=4, per_day=1, concurrent=2)
    overage = window(allowance=100)
    first = admit(store, overage, quota)
    held = admit(store, overage, quota)
    assert (first.billed, held.billed, held.overage_calls) == (False, True, 1)
    refused = admit(store, overage, quota)
    assert (refused.refused, refused.billed) == (CONCURRENT, False)
    store.release(1, first.lease or "")
    store.release(1, held.lease or "")
    assert admit_and_end(store, overage, quota).overage_calls == 2  # the refusal counted nothing
    assert admit_and_end(store, overage, quota).overage_calls == 3
    refused = admit(store, overage, quota)
    assert (refused.refused, refused.minute_count) == (MINUTE, 4)
    assert store.pending_usage(1, window(100).metric, [TODAY]) == 3


def test_a_new_period_starts_a_new_count(store: CounterStore) -> None:
    quota = Quota(per_minute=100, per_day=0, concurrent=50)
    november = window(allowance=2)
    assert [admit_and_end(store, november, quota).overage_calls for _ in range(2)] == [1, 2]
    assert admit(store, november, quota).refused == OVERAGE_CAP
    december = window(allowance=2, period=(PERIOD[1], PERIOD[1] + 31 * 86_400))
    renewed = store.acquire(1, quota, PERIOD[1], LEASE, ("api_calls",), december)
    assert (renewed.refused, renewed.overage_calls) == (None, 1)


def test_a_lower_cap_applies_to_the_next_call(store: CounterStore) -> None:
    for _ in range(3 + 3):
        admit_and_end(store, window(allowance=10))
    assert admit(store, window(allowance=3)).refused == OVERAGE_CAP
    assert admit_and_end(store, window(allowance=4)).overage_calls == 4


def test_the_period_count_starts_from_sql(make_store: StoreMaker) -> None:
    """A restarted process (or a Redis that lost its data) starts the period where the outbox
    left it, as the day's count starts from usage_counter."""
    seeds: list[tuple[int, int]] = []

    def outbox(tenant_id: int, period_start: int) -> int:
        seeds.append((tenant_id, period_start))
        return 3

    store = make_store(lambda tenant_id, day: 3, outbox)
    first = admit_and_end(store, window(allowance=4))
    assert (first.day_count, first.overage_calls) == (4, 4)
    assert admit(store, window(allowance=4)).refused == OVERAGE_CAP
    assert seeds == [(1, PERIOD[0])]  # once, not per call


def test_a_refund_takes_back_the_whole_call(store: CounterStore) -> None:
    overage = window(allowance=4)
    normal = admit(store, overage)
    store.refund(1, normal)
    for _ in range(3):
        admit_and_end(store, overage)
    billed = admit(store, overage)
    assert billed.overage_calls == 1
    store.refund(1, billed)
    counts = store.live_counts(1, START)
    assert (counts.day, counts.concurrent) == (3, 0)
    assert admit_and_end(store, overage).overage_calls == 1  # the refunded one is free again
    assert store.pending_usage(1, overage.metric, [TODAY]) == 1
    assert store.pending_usage(1, OVERAGE_CALLS, [TODAY]) == 1
    assert store.pending_usage(1, "api_calls", [TODAY]) == 4


@pytest.mark.parametrize("billed", [False, True])
def test_a_lost_reply_is_undone_overage_included(
    redis_settings: dict[str, Any], billed: bool
) -> None:
    overage = window(allowance=4)
    with redis_store(redis_settings) as store:
        for _ in range(3 if billed else 0):
            admit_and_end(store, overage)
        script = store._acquire

        def reply_lost(keys: list[str], args: list[Any]) -> Any:
            script(keys, args)
            raise redis.TimeoutError("the reply never came")

        store._acquire = reply_lost  # type: ignore[assignment]
        with pytest.raises(redis.TimeoutError):
            admit(store, overage)
        store._acquire = script
        store.settle()
        assert store.pending_usage(1, overage.metric, [TODAY]) == 0
        assert store.pending_usage(1, "api_calls", [TODAY]) == (3 if billed else 0)
        next_one = admit_and_end(store, overage)
        assert next_one.overage_calls == (1 if billed else -1)


def test_the_period_counter_outlives_its_period(redis_settings: dict[str, Any]) -> None:
    with redis_store(redis_settings, period_seed=lambda tenant_id, start: 0) as store:
        admit_and_end(store, window())
        ttl = store.client.ttl(store._tenant_key(1, f"o:{PERIOD[0]}"))
        assert ttl > PERIOD[1] - START
