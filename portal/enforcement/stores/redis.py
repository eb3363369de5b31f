"""The scale-out counter store: Redis, shared by every process and host.

A call costs one round trip (a Lua script checks and counts minute, day and a concurrency lease,
and adds the call to the pending usage hash) plus at most one to release the lease: releases are
queued and ride along with the process's next admission, or go out in a batch within 5 ms.
Leases are members of a sorted set scored by their expiry, so a worker killed mid-request frees
its slot when the lease runs out. Pending usage lives in Redis until SQL has it, so killing a
worker loses nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.enforcement.engine import Admission, day_window, minute_window
from portal.enforcement.overage import OverageWindow
from portal.enforcement.stores.base import LiveCounts, Quota, UsageBatch, UsageRows, new_lease_token
from portal.enforcement.stores.memory import DaySeed, PeriodSeed
from portal.enforcement.stores.redis_calls import OVERAGE_LEASE, PreparedCall, ScriptLayout
from portal.enforcement.stores.redis_link import ScriptLink
from portal.enforcement.stores.redis_releases import ReleaseQueue
from portal.enforcement.stores.redis_scripts import ACQUIRE, PENDING, TAKE, UNDO

#: Socket timeouts: a Redis that does not answer within this costs one request 100 ms, not seconds.
SOCKET_TIMEOUT_SECONDS = 0.1
#: Day counters outlive their day by a day, so a late reader still finds them; a period's
#: overage counter outlives its period by as long.
DAY_KEY_SECONDS = 2 * 86_400
#: A usage batch claimed by a flusher that has not acknowledged it after this long is retaken.
STALE_BATCH_SECONDS = 30.0
#: Bounds the cache of per-tenant admission layouts; past it the cache starts over.
MAX_LAYOUTS = 10_000


def lease_set_seconds(lease_seconds: float) -> int:
    """The TTL a tenant's lease set gets: longer than any lease added to it (see ACQUIRE)."""
    return int(lease_seconds) + 120


def usage_field(tenant_id: int, metric: str, day: int) -> str:
    return f"{tenant_id}|{metric}|{day}"


def parse_usage_field(raw: bytes) -> tuple[int, str, int]:
    tenant, rest = raw.decode().split("|", 1)
    metric, day = rest.rsplit("|", 1)
    return int(tenant), metric, int(day)


def connect(url: str, timeout: float = SOCKET_TIMEOUT_SECONDS) -> redis.Redis:
    """A client with short timeouts and no retries: failing fast is the circuit breaker's job."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class RedisStore:
    """Counters, leases and pending usage in Redis under ``prefix``."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "continuum:",
        day_seed: DaySeed | None = None,
        period_seed: PeriodSeed | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._day_seed = day_seed
        self._period_seed = period_seed
        #: (tenant, day) whose day counter, and (tenant, -period start) whose overage counter,
        #: this process made sure exists (see ``_seed``), all on day ``_seeded_day``: a new day
        #: gets a new set (never cleared or iterated, as other threads add to it meanwhile).
        self._seeded: set[tuple[int, int]] = set()
        self._seeded_day = -1
        #: Admissions whose reply never came: undo-script (keys, args), run once Redis answers.
        self._unsure: deque[tuple[list[str], list[str | int]]] = deque()
        #: Held while undos are on their way (the releaser thread's, or a caller's).
        self._settling = threading.Lock()
        self._pending_key = f"{prefix}usage:pending"
        self._batches_key = f"{prefix}usage:batches"
        self._acquire = ScriptLink(client, ACQUIRE)
        self._layouts: dict[
            tuple[int, Quota, int, float, tuple[str, ...], OverageWindow | None], ScriptLayout
        ] = {}
        self._take = client.register_script(TAKE)
        self._pending = client.register_script(PENDING)
        self._undo = client.register_script(UNDO)
        self._releases = ReleaseQueue(client, self.settle, lambda: bool(self._unsure))

    @property
    def has_unsure(self) -> bool:
        """Whether admissions whose reply was lost wait to be settled, or are being settled
        right now (``settle``)."""
        return bool(self._unsure) or self._settling.locked()

    def tenant_key(self, tenant_id: int, name: str) -> str:
        return self._tenant_key(tenant_id, name)

    def _tenant_key(self, tenant_id: int, name: str) -> str:
        # The hash tag keeps one tenant's keys in one slot, should this ever move to a cluster.
        return f"{self.prefix}{{t{tenant_id}}}:{name}"

    @property
    def usage_sources(self) -> tuple[RedisStore]:
        return (self,)

    def _seed(self, day: int, seeded: tuple[int, int], key: str, value: int, ttl: int) -> None:
        """Start a missing counter from SQL, so a Redis that lost its data keeps the count."""
        if self._seeded_day != day:
            self._seeded_day, self._seeded = day, set()
        self.client.set(key, value, nx=True, ex=ttl)
        self._seeded.add(seeded)

    def _seed_day(self, day_seed: DaySeed, tenant_id: int, day: int, key: str) -> None:
        self._seed(day, (tenant_id, day), key, day_seed(tenant_id, day), DAY_KEY_SECONDS)

    def _layout(
        self,
        tenant_id: int,
        quota: Quota,
        day: int,
        now: float,
        lease_seconds: float,
        metrics: tuple[str, ...],
        overage: OverageWindow | None,
    ) -> ScriptLayout:
        """The keys and arguments of an admission that stay the same all day (built once)."""
        index = (tenant_id, quota, day, lease_seconds, metrics, overage)
        layout = self._layouts.get(index)
        if layout is not None:
            return layout
        if len(self._layouts) >= MAX_LAYOUTS:
            self._layouts.clear()
        fields = [usage_field(tenant_id, metric, day) for metric in metrics]
        day_key = self._tenant_key(tenant_id, f"d:{day}")
        overage_key, overage_fields = day_key, []
        allowance, overage_ttl = -1, 0
        if overage is not None:
            overage_key = self._tenant_key(tenant_id, f"o:{overage.period_start}")
            overage_fields = [usage_field(tenant_id, metric, day) for metric in overage.metrics]
            allowance = overage.allowance
            # Past the period's end whenever in this day it is set.
            overage_ttl = max(0, int(overage.period_end - now)) + DAY_KEY_SECONDS
        layout = ScriptLayout(
            minute_prefix=self._tenant_key(tenant_id, "m:"),
            day_key=day_key,
            leases_key=self._tenant_key(tenant_id, "leases"),
            generation_key=self._tenant_key(tenant_id, "gen"),
            overage_key=overage_key,
            fields=fields,
            overage_fields=overage_fields,
            overage_ttl=overage_ttl,
            args=[
                quota.per_minute,
                quota.per_day,
                quota.concurrent,
                lease_set_seconds(lease_seconds),
                DAY_KEY_SECONDS,
                allowance,
                overage_ttl,
                len(fields),
                *fields,
                len(overage_fields),
                *overage_fields,
            ],
        )
        self._layouts[index] = layout
        return layout

    def acquire(
        self,
        tenant_id: int,
        quota: Quota,
        now: float,
        lease_seconds: float,
        metrics: Iterable[str],
        overage: OverageWindow | None = None,
    ) -> Admission:
        if self.has_unsure:
            self.settle()
        self.seed(tenant_id, now, overage)
        call = self.prepare(tenant_id, quota, now, lease_seconds, tuple(metrics), overage)
        try:
            reply = self._acquire(call.keys, call.args)
        except redis.RedisError:
            self.lost(call)
            raise
        return call.admission(reply)

    def seeded(self, tenant_id: int, now: float, overage: OverageWindow | None) -> bool:
        """Whether the day's (and period's) counters are known to exist, so an admission needs
        no SQL (an async caller checks this on its loop, and seeds in a thread otherwise)."""
        day = day_window(now)
        if self._day_seed is not None and (tenant_id, day) not in self._seeded:
            return False
        return (
            overage is None
            or self._period_seed is None
            or (tenant_id, -overage.period_start) in self._seeded
        )

    def seed(self, tenant_id: int, now: float, overage: OverageWindow | None) -> None:
        """Start missing counters from SQL (blocking: SQL and Redis)."""
        day = day_window(now)
        day_key = self._tenant_key(tenant_id, f"d:{day}")
        if self._day_seed is not None and (tenant_id, day) not in self._seeded:
            self._seed_day(self._day_seed, tenant_id, day, day_key)
        if (
            overage is not None
            and self._period_seed is not None
            and (tenant_id, -overage.period_start) not in self._seeded
        ):
            start = overage.period_start
            overage_key = self._tenant_key(tenant_id, f"o:{start}")
            ttl = max(0, int(overage.period_end - now)) + DAY_KEY_SECONDS
            count = self._period_seed(tenant_id, start)
            self._seed(day, (tenant_id, -start), overage_key, count, ttl)

    def prepare(
        self,
        tenant_id: int,
        quota: Quota,
        now: float,
        lease_seconds: float,
        metrics: tuple[str, ...],
        overage: OverageWindow | None,
    ) -> PreparedCall:
        """The ACQUIRE script's keys and arguments for one call, with the queued releases
        riding along (no I/O: a sync or an async client runs it)."""
        layout = self._layout(
            tenant_id, quota, day_window(now), now, lease_seconds, metrics, overage
        )
        token = new_lease_token()
        keys = [
            f"{layout.minute_prefix}{minute_window(now)}",
            layout.day_key,
            layout.leases_key,
            layout.generation_key,
            self._pending_key,
            layout.overage_key,
        ]
        args: list[str | int | float] = [*layout.args, now, now + lease_seconds, token]
        releases = self._releases.take() if self._releases.waiting else []
        for lease_key, lease in releases:
            keys.append(lease_key)
            args.append(lease)
        return PreparedCall(keys, args, token, layout, releases)

    def lost(self, call: PreparedCall) -> None:
        """The script's reply never came: its releases are queued again, and it is undone once
        Redis answers if it ran after all (a timeout, a reset while the reply was on its way:
        the undo checks the lease is there). The releaser thread sends the undo at once and
        until Redis takes it; the next admission settles first too."""
        self._releases.put_back(call.releases)
        self._unsure.append(_undo_call(call.keys[0], call.layout, self._pending_key, call.token))
        self._releases.nudge()

    def refund(self, tenant_id: int, admission: Admission) -> None:
        """Take the admitted call back in one round trip (the undo script: the lease, then the
        counts, only if the lease is still there)."""
        minute_key, layout = admission.receipt
        token = (admission.lease or "").removesuffix(OVERAGE_LEASE)
        keys, args = _undo_call(minute_key, layout, self._pending_key, token)
        self._undo(keys, args)

    def settle(self) -> None:
        """Undo admissions whose reply was lost, so counted always equals admitted: all of them
        in one round trip (an outage can leave one per failed call). An undo of a call whose
        script never ran finds no lease and does nothing, so running one twice is harmless.
        One settle at a time: a caller waits for the one under way (the releaser thread's), so
        an admission never overtakes an undo already sent."""
        with self._settling:
            unsure: list[tuple[list[str], list[str | int]]] = []
            while self._unsure:
                unsure.append(self._unsure.popleft())
            if not unsure:
                return
            pipe = self.client.pipeline(transaction=False)
            for keys, args in unsure:
                self._undo(keys, args, client=pipe)
            try:
                pipe.execute()
            except redis.RedisError:
                self._unsure.extendleft(reversed(unsure))
                raise

    def release(self, tenant_id: int, lease: str) -> None:
        """Queue the slot's release: this process's next admission carries it in its own round
        trip; a background thread sends what waited ``RELEASE_DELAY_SECONDS`` in vain."""
        self._releases.add(self._tenant_key(tenant_id, "leases"), lease)

    def send_releases(self) -> None:
        """Send every queued release now, in one pipeline."""
        self._releases.send_all()

    def renew(self, tenant_id: int, lease: str, now: float, lease_seconds: float) -> None:
        """One round trip: the lease's new expiry (only if it is still held) and the set's TTL."""
        leases = self._tenant_key(tenant_id, "leases")
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(leases, {lease: now + lease_seconds}, xx=True)
        pipe.expire(leases, lease_set_seconds(lease_seconds))
        pipe.execute()

    def live_counts(self, tenant_id: int, now: float) -> LiveCounts:
        if self._releases.waiting:
            self.send_releases()
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self._tenant_key(tenant_id, f"m:{minute_window(now)}"))
        pipe.get(self._tenant_key(tenant_id, f"d:{day_window(now)}"))
        pipe.zcount(self._tenant_key(tenant_id, "leases"), f"({now}", "+inf")
        minute, day, concurrent = pipe.execute()
        return LiveCounts(int(minute or 0), int(day or 0), int(concurrent))

    def add_usage(self, tenant_id: int, metric: str, day: int, amount: int) -> None:
        self.client.hincrby(self._pending_key, usage_field(tenant_id, metric, day), amount)

    def pending_usage(self, tenant_id: int, metric: str, days: Iterable[int]) -> int:
        fields = [usage_field(tenant_id, metric, day) for day in days]
        return int(self._pending([self._pending_key, self._batches_key], fields))

    def take_usage(self) -> UsageBatch:
        if self.has_unsure:
            self.settle()
        now = time.time()
        batch_key = f"{self.prefix}usage:batch:{uuid.uuid4().hex}"
        reply = self._take(
            [self._pending_key, self._batches_key], [batch_key, now, now - STALE_BATCH_SECONDS]
        )
        batch = UsageBatch(ledgered=True)
        for key, flat in zip(reply[::2], reply[1::2], strict=True):
            rows: UsageRows = batch.parts.setdefault(key.decode(), {})
            for raw_field, raw_value in zip(flat[::2], flat[1::2], strict=True):
                row = parse_usage_field(raw_field)
                rows[row] = rows.get(row, 0) + int(raw_value)
        return batch

    def ack_usage(self, batch: UsageBatch) -> None:
        if not batch.handles:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(*batch.handles)
        pipe.zrem(self._batches_key, *batch.handles)
        pipe.execute()

    def return_usage(self, batch: UsageBatch) -> None:
        if batch.handles:
            self.client.zadd(self._batches_key, dict.fromkeys(batch.handles, 0))

    def bump_generation(self, tenant_id: int) -> None:
        self.client.incr(self._tenant_key(tenant_id, "gen"))

    def close(self) -> None:
        try:
            self._releases.close()
            if self._unsure:
                self.settle()
        finally:
            self._acquire.close()
            self.client.close()


def _undo_call(
    minute_key: str, layout: ScriptLayout, pending_key: str, token: str
) -> tuple[list[str], list[str | int]]:
    """The undo script's keys and arguments for the admission of ``token`` (see UNDO)."""
    keys = [minute_key, layout.day_key, layout.leases_key, pending_key, layout.overage_key]
    return keys, [token, len(layout.fields), *layout.fields, *layout.overage_fields]
