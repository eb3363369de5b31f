"""Redis behind a circuit breaker, with a configured choice for when it is down.

``ENFORCEMENT_FAIL_MODE=closed`` (the default) refuses metered calls with 503 while Redis is
unreachable; ``open`` admits them against per-process in-memory limits and logs a warning (at
most every 30 s). Either way a dead Redis costs little: a refused connection opens the breaker at
once, three timeouts in a row (100 ms each) do too, and while it is open (``open_seconds``) no
call is tried.
Usage is never dropped: while Redis is down it is counted in memory and flushed from there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import replace

import redis

from portal.enforcement.engine import Admission
from portal.enforcement.overage import OverageWindow
from portal.enforcement.stores.base import LiveCounts, Quota, StoreUnavailable
from portal.enforcement.stores.memory import MemoryStore
from portal.enforcement.stores.redis import RedisStore

log = logging.getLogger("continuum.enforcement")

FAIL_CLOSED, FAIL_OPEN = "closed", "open"
WARN_EVERY_SECONDS = 30.0


class GuardedStore:
    """A ``RedisStore`` that fails fast and falls back as configured."""

    def __init__(
        self,
        primary: RedisStore,
        fail_mode: str = FAIL_CLOSED,
        open_seconds: float = 1.0,
        failures_to_open: int = 3,
    ) -> None:
        if fail_mode not in (FAIL_CLOSED, FAIL_OPEN):
            raise ValueError(f"ENFORCEMENT_FAIL_MODE must be 'closed' or 'open', not {fail_mode!r}")
        self.primary = primary
        self.fallback = MemoryStore()
        self.fail_open = fail_mode == FAIL_OPEN
        self.open_seconds = open_seconds
        self.failures_to_open = failures_to_open
        self._failures = 0
        self._open_until = 0.0
        self._last_warning = 0.0
        self._lock = threading.Lock()
        #: Whether any call was ever admitted by the fallback (else its leases need no release).
        self._fallback_used = False

    @property
    def usage_sources(self) -> tuple[RedisStore, MemoryStore]:
        return self.primary, self.fallback

    def healthy(self) -> bool:
        return time.monotonic() >= self._open_until

    def _trip(self, error: Exception) -> None:
        """Count a failure: a refused connection, or a few timeouts in a row, open the breaker."""
        now = time.monotonic()
        with self._lock:
            self._failures += 1
            if isinstance(error, redis.ConnectionError) or self._failures >= self.failures_to_open:
                self._open_until = now + self.open_seconds
                self._failures = 0
            warn = now - self._last_warning >= WARN_EVERY_SECONDS
            if warn:
                self._last_warning = now
        if warn:
            consequence = (
                "admitting calls against per-process limits"
                if self.fail_open
                else "refusing metered calls with 503"
            )
            log.warning("Redis counter store unreachable (%s); %s", error, consequence)

    def acquire(
        self,
        tenant_id: int,
        quota: Quota,
        now: float,
        lease_seconds: float,
        metrics: Iterable[str],
        overage: OverageWindow | None = None,
    ) -> Admission:
        metrics = tuple(metrics)
        if self.healthy():
            try:
                admission = self.primary.acquire(
                    tenant_id, quota, now, lease_seconds, metrics, overage
                )
                self._failures = 0
                return admission
            except redis.RedisError as error:
                self._trip(error)
        if not self.fail_open:
            raise StoreUnavailable("the Redis counter store is unreachable")
        self._fallback_used = True
        # Per-process limits: the fallback counts each period's overage calls from zero too.
        admission = self.fallback.acquire(tenant_id, quota, now, lease_seconds, metrics, overage)
        return replace(admission, fallback=True)

    def release(self, tenant_id: int, lease: str) -> None:
        if self._fallback_used and self.fallback.release(tenant_id, lease):
            return
        # Only queued (no I/O): sent once Redis answers, even if the breaker is open right now,
        # so the calls that end during an outage do not hold their slots for a whole lease.
        self.primary.release(tenant_id, lease)

    def refund(self, tenant_id: int, admission: Admission) -> None:
        if admission.fallback:
            self.fallback.refund(tenant_id, admission)
            return
        if self.healthy():
            try:
                self.primary.refund(tenant_id, admission)
                return
            except redis.RedisError as error:
                self._trip(error)
        # Redis cannot take it back now: the call stays counted, as one that ran, and its slot
        # is released as any other (queued until Redis answers).
        self.primary.release(tenant_id, admission.lease or "")

    def renew(self, tenant_id: int, lease: str, now: float, lease_seconds: float) -> None:
        if self._fallback_used:
            self.fallback.renew(tenant_id, lease, now, lease_seconds)
        if self.healthy():
            try:
                self.primary.renew(tenant_id, lease, now, lease_seconds)
            except redis.RedisError as error:
                self._trip(error)  # the lease expires on its own

    def live_counts(self, tenant_id: int, now: float) -> LiveCounts:
        if self.healthy():
            try:
                return self.primary.live_counts(tenant_id, now)
            except redis.RedisError as error:
                self._trip(error)
        return self.fallback.live_counts(tenant_id, now)

    def add_usage(self, tenant_id: int, metric: str, day: int, amount: int) -> None:
        if self.healthy():
            try:
                self.primary.add_usage(tenant_id, metric, day, amount)
                return
            except redis.RedisError as error:
                self._trip(error)
        self.fallback.add_usage(tenant_id, metric, day, amount)

    def pending_usage(self, tenant_id: int, metric: str, days: Iterable[int]) -> int:
        days = tuple(days)
        total = self.fallback.pending_usage(tenant_id, metric, days)
        if self.healthy():
            try:
                total += self.primary.pending_usage(tenant_id, metric, days)
            except redis.RedisError as error:
                self._trip(error)
        return total

    def bump_generation(self, tenant_id: int) -> None:
        if self.healthy():
            try:
                self.primary.bump_generation(tenant_id)
            except redis.RedisError as error:
                self._trip(error)

    def close(self) -> None:
        try:
            self.primary.close()
        except redis.RedisError as error:
            log.info("queued lease releases not sent at shutdown (they expire): %s", error)
