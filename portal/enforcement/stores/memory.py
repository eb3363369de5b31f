"""The embedded counter store: fixed windows and concurrency leases in this process's memory.

It is exact for one process with any number of threads (one lock guards every check-and-count).
Several processes each get their own counters; use the Redis store for those.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from portal.enforcement.engine import (
    CONCURRENT,
    DAY,
    MINUTE,
    OVERAGE_CAP,
    Admission,
    day_window,
    minute_window,
)
from portal.enforcement.overage import OverageWindow
from portal.enforcement.stores.base import LiveCounts, Quota, UsageBatch, UsageRows, new_lease_token

#: Reads how many calls SQL already holds for (tenant id, day): restarts keep the day's count.
DaySeed = Callable[[int, int], int]
#: Reads how many overage calls SQL's outbox holds for (tenant id, period start), likewise.
PeriodSeed = Callable[[int, int], int]


class _Windows:
    __slots__ = (
        "minute",
        "minute_count",
        "day",
        "day_count",
        "leases",
        "period",
        "overage_count",
    )

    def __init__(self) -> None:
        self.minute = -1
        self.minute_count = 0
        self.day = -1
        self.day_count = 0
        self.leases: dict[str, float] = {}
        self.period = -1
        self.overage_count = 0

    def roll(self, minute: int, day: int, day_seed: int) -> None:
        if self.minute != minute:
            self.minute, self.minute_count = minute, 0
        if self.day != day:
            self.day, self.day_count = day, day_seed

    def drop_expired_leases(self, now: float) -> None:
        expired = [token for token, expiry in self.leases.items() if expiry <= now]
        for token in expired:
            del self.leases[token]


class MemoryStore:
    """Counters, leases and pending usage for one process."""

    def __init__(
        self, day_seed: DaySeed | None = None, period_seed: PeriodSeed | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._windows: dict[int, _Windows] = {}
        self._pending: UsageRows = {}
        self._taken: dict[str, UsageRows] = {}
        self._day_seed = day_seed
        self._period_seed = period_seed

    @property
    def usage_sources(self) -> tuple[MemoryStore]:
        return (self,)

    def acquire(
        self,
        tenant_id: int,
        quota: Quota,
        now: float,
        lease_seconds: float,
        metrics: Iterable[str],
        overage: OverageWindow | None = None,
    ) -> Admission:
        minute, day = minute_window(now), day_window(now)
        windows = self._windows.get(tenant_id)
        seed = period_seed = 0
        # SQL, so outside the lock.
        if self._day_seed is not None and (windows is None or windows.day != day):
            seed = self._day_seed(tenant_id, day)
        if (
            overage is not None
            and self._period_seed is not None
            and (windows is None or windows.period != overage.period_start)
        ):
            period_seed = self._period_seed(tenant_id, overage.period_start)
        with self._lock:
            if windows is None:
                windows = self._windows.setdefault(tenant_id, _Windows())
            windows.roll(minute, day, seed)
            if overage is not None and windows.period != overage.period_start:
                windows.period, windows.overage_count = overage.period_start, period_seed
            leases = windows.leases
            if len(leases) >= quota.concurrent:
                windows.drop_expired_leases(now)
            refused: str | None = None
            overage_calls = -1
            if windows.day_count >= quota.per_day:
                if overage is None:
                    refused = DAY
                else:
                    overage_calls = windows.overage_count
                    if overage_calls >= overage.allowance:
                        refused = OVERAGE_CAP
            if refused is None:
                if windows.minute_count >= quota.per_minute:
                    refused = MINUTE
                elif len(leases) >= quota.concurrent:
                    refused = CONCURRENT
            if refused is not None:
                return Admission(
                    refused,
                    windows.minute_count,
                    windows.day_count,
                    len(leases),
                    overage_calls=overage_calls,
                )
            windows.minute_count += 1
            windows.day_count += 1
            token = new_lease_token()
            leases[token] = now + lease_seconds
            counted = tuple(metrics)
            if overage is not None and overage_calls >= 0:
                windows.overage_count = overage_calls = overage_calls + 1
                counted += overage.metrics
            pending = self._pending
            for metric in counted:
                key = (tenant_id, metric, day)
                pending[key] = pending.get(key, 0) + 1
            return Admission(
                None,
                windows.minute_count,
                windows.day_count,
                len(leases),
                token,
                overage_calls=overage_calls,
                receipt=(minute, day, counted, overage),
            )

    def release(self, tenant_id: int, lease: str) -> bool:
        """Give the slot back; returns whether this store held ``lease``."""
        with self._lock:
            windows = self._windows.get(tenant_id)
            return windows is not None and windows.leases.pop(lease, None) is not None

    def refund(self, tenant_id: int, admission: Admission) -> None:
        minute, day, counted, overage = admission.receipt
        with self._lock:
            windows = self._windows.get(tenant_id)
            lease = admission.lease or ""
            if windows is None or windows.leases.pop(lease, None) is None:
                return  # expired meanwhile: only a lost slot, never a lost count
            if windows.minute == minute:
                windows.minute_count -= 1
            if windows.day == day:
                windows.day_count -= 1
            if admission.billed and windows.period == overage.period_start:
                windows.overage_count -= 1
            pending = self._pending
            for metric in counted:
                key = (tenant_id, metric, day)
                pending[key] = pending.get(key, 0) - 1

    def renew(self, tenant_id: int, lease: str, now: float, lease_seconds: float) -> None:
        with self._lock:
            windows = self._windows.get(tenant_id)
            if windows is not None and lease in windows.leases:
                windows.leases[lease] = now + lease_seconds

    def live_counts(self, tenant_id: int, now: float) -> LiveCounts:
        with self._lock:
            windows = self._windows.get(tenant_id)
            if windows is None:
                return LiveCounts(0, 0, 0)
            windows.drop_expired_leases(now)
            return LiveCounts(
                minute=windows.minute_count if windows.minute == minute_window(now) else 0,
                day=windows.day_count if windows.day == day_window(now) else 0,
                concurrent=len(windows.leases),
            )

    def add_usage(self, tenant_id: int, metric: str, day: int, amount: int) -> None:
        key = (tenant_id, metric, day)
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + amount

    def pending_usage(self, tenant_id: int, metric: str, days: Iterable[int]) -> int:
        keys = [(tenant_id, metric, day) for day in days]
        with self._lock:
            sources = (self._pending, *self._taken.values())
            return sum(rows.get(key, 0) for rows in sources for key in keys)

    def take_usage(self) -> UsageBatch:
        handle = new_lease_token()
        with self._lock:
            rows, self._pending = self._pending, {}
            if rows:
                self._taken[handle] = rows
        return UsageBatch({handle: rows} if rows else {})

    def ack_usage(self, batch: UsageBatch) -> None:
        with self._lock:
            for handle in batch.handles:
                self._taken.pop(handle, None)

    def return_usage(self, batch: UsageBatch) -> None:
        with self._lock:
            for handle in batch.handles:
                for key, amount in self._taken.pop(handle, {}).items():
                    self._pending[key] = self._pending.get(key, 0) + amount

    def bump_generation(self, tenant_id: int) -> None:
        """Nothing to tell: in one process the caches are invalidated directly."""

    def close(self) -> None:
        """Nothing to close."""
