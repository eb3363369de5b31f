"""The counter store contract, on the in-process store and on Redis alike."""

from __future__ import annotations

import sys
import threading
import time
import types
from typing import Any

import pytest
import redis

from portal.enforcement.engine import CONCURRENT, DAY, MINUTE, day_window, minute_window
from portal.enforcement.stores import redis_link
from portal.enforcement.stores.base import CounterStore, Quota
from portal.enforcement.stores.redis import RedisStore, connect
from tests.enforcement.support import START, redis_store

QUOTA = Quota(per_minute=3, per_day=5, concurrent=2)
LEASE = 30.0
TODAY = day_window(START)


def admit(store: CounterStore, now: float = START, tenant: int = 1) -> Any:
    return store.acquire(tenant, QUOTA, now, LEASE, ["api_calls", "api_calls:/x"])


def test_minute_day_and_concurrency_in_one_check(store: CounterStore) -> None:
    first, second = admit(store), admit(store)
    assert (first.refused, first.minute_count, first.day_count, first.in_flight) == (
        None,
        1,
        1,
        1,
    )
    assert second.in_flight == 2
    refused = admit(store)
    assert refused.refused == CONCURRENT
    assert refused.lease is None
    store.release(1, first.lease)
    third = admit(store)
    assert third.refused is None and third.minute_count == 3
    store.release(1, second.lease)
    store.release(1, third.lease)
    assert admit(store).refused == MINUTE
    later = admit(store, START + 60)
    assert (later.refused, later.minute_count, later.day_count) == (None, 1, 4)
    store.release(1, later.lease)
    store.release(1, admit(store, START + 61).lease)
    assert admit(store, START + 120).refused == DAY
    assert admit(store, START + 86_400).refused is None


def test_refusals_count_nothing(store: CounterStore) -> None:
    for _ in range(3):
        store.release(1, admit(store).lease)
    for _ in range(5):
        assert admit(store).refused == MINUTE
    counts = store.live_counts(1, START)
    assert (counts.minute, counts.day, counts.concurrent) == (3, 3, 0)
    assert store.pending_usage(1, "api_calls", [TODAY]) == 3


def test_leases_expire(store: CounterStore) -> None:
    admit(store)
    admit(store)
    assert admit(store, START + LEASE - 1).refused == CONCURRENT
    assert store.live_counts(1, START + LEASE).concurrent == 0
    assert admit(store, START + LEASE).refused is None


def test_tenants_are_separate(store: CounterStore) -> None:
    for _ in range(2):
        admit(store, tenant=1)
    assert admit(store, tenant=1).refused == CONCURRENT
    assert admit(store, tenant=2).refused is None


def test_usage_is_taken_acknowledged_or_returned(store: CounterStore) -> None:
    source = store.usage_sources[0]
    store.release(1, admit(store).lease)
    store.add_usage(1, "federation_contributions", TODAY, 7)
    batch = source.take_usage()
    assert batch.rows == {
        (1, "api_calls", TODAY): 1,
        (1, "api_calls:/x", TODAY): 1,
        (1, "federation_contributions", TODAY): 7,
    }
    # Until acknowledged, taken usage still shows as pending.
    assert store.pending_usage(1, "federation_contributions", [TODAY]) == 7
    store.add_usage(1, "federation_contributions", TODAY, 1)
    source.return_usage(batch)
    retried = source.take_usage()
    assert retried.rows[(1, "federation_contributions", TODAY)] == 8
    source.ack_usage(retried)
    assert store.pending_usage(1, "federation_contributions", [TODAY]) == 0
    assert source.take_usage().rows == {}


@pytest.mark.parametrize(
    "lost", [redis.TimeoutError("the reply never came"), redis.ConnectionError("connection reset")]
)
def test_an_admission_whose_reply_was_lost_is_undone(
    redis_settings: dict[str, Any], lost: redis.RedisError
) -> None:
    with redis_store(redis_settings) as store:
        script = store._acquire

        def reply_lost(keys: list[str], args: list[Any]) -> Any:
            script(keys, args)
            raise lost

        store._acquire = reply_lost  # type: ignore[assignment]
        for _ in range(2):
            with pytest.raises(type(lost)):
                admit(store)
        store._acquire = script
        admission = admit(store)  # settles the unsure ones first
        assert (admission.minute_count, admission.day_count, admission.in_flight) == (1, 1, 1)
        assert store.pending_usage(1, "api_calls", [TODAY]) == 1


def test_an_undo_after_the_minute_window_expired_leaves_no_counter_behind(
    redis_settings: dict[str, Any],
) -> None:
    with redis_store(redis_settings) as store:
        script = store._acquire

        def reply_lost(keys: list[str], args: list[Any]) -> Any:
            script(keys, args)
            raise redis.TimeoutError("the reply never came")

        store._acquire = reply_lost  # type: ignore[assignment]
        with pytest.raises(redis.TimeoutError):
            admit(store)
        store._acquire = script
        minute_key = store._tenant_key(1, f"m:{minute_window(START)}")
        store.client.delete(minute_key)  # its TTL ran out before Redis answered again
        store.settle()
        assert store.client.exists(minute_key) == 0
        assert store.pending_usage(1, "api_calls", [TODAY]) == 0


def test_a_queued_release_reaches_redis_on_its_own(redis_settings: dict[str, Any]) -> None:
    with redis_store(redis_settings) as store:
        store.release(1, admit(store).lease)
        leases = store._tenant_key(1, "leases")
        deadline = time.monotonic() + 2
        while store.client.zcard(leases):
            assert time.monotonic() < deadline, "the release was never sent"
            time.sleep(0.005)


def test_a_lease_set_keeps_a_ttl_longer_than_its_leases(redis_settings: dict[str, Any]) -> None:
    quota = Quota(per_minute=100, per_day=1000, concurrent=2)
    with redis_store(redis_settings) as store:
        leases = store._tenant_key(1, "leases")
        lease: str | None = None
        for second in range(0, 150, 10):  # one call after another, its release riding along
            admission = store.acquire(1, quota, START + second, LEASE, ["api_calls"])
            assert admission.refused is None and admission.in_flight == 1
            assert store.client.ttl(leases) > LEASE
            if lease is not None:
                assert store.client.zscore(leases, lease) is None  # released
            lease = admission.lease
            store.release(1, lease)
        refused = store.acquire(1, Quota(100, 1000, 0), START + 150, LEASE, ["api_calls"])
        assert refused.refused == CONCURRENT
        assert store.client.zcard(leases) == 0  # nothing left, the refused call's lease included


def test_day_counters_are_seeded_from_many_threads_at_once() -> None:
    """Threads seeding different tenants' day counters together must not trip over each other
    (a set iterated by one while another adds to it raises RuntimeError: a 500)."""

    class Client:
        def set(self, *args: Any, **kwargs: Any) -> None:
            """The day counter exists (nothing to send)."""

    store = RedisStore(connect("redis://127.0.0.1:1/0"), "race:", lambda tenant, day: 0)
    store.client = Client()  # type: ignore[assignment]
    errors: list[BaseException] = []

    def seed(first_tenant: int) -> None:
        try:
            for tenant in range(first_tenant, first_tenant + 3000):
                store._seed_day(lambda tenant, day: 0, tenant, TODAY, "day-key")
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=seed, args=(n * 100_000,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert (1, TODAY) in store._seeded and (300_000 + 2999, TODAY) in store._seeded


def test_admissions_work_without_the_lean_script_path(
    redis_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redis-py or hiredis without what the lean path uses: the script runs through redis-py
    (slower, but admissions, refusals and counts are the same)."""
    monkeypatch.setattr(redis_link, "hiredis", types.SimpleNamespace())
    with redis_store(redis_settings) as store:
        assert store._acquire._script is not None
        first, second, third = admit(store), admit(store), admit(store)
        assert (first.refused, second.refused, third.refused) == (None, None, CONCURRENT)
        assert (second.minute_count, second.day_count, second.in_flight) == (2, 2, 2)
        assert store.pending_usage(1, "api_calls", [TODAY]) == 2
