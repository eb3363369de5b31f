"""Admissions over ``redis.asyncio``: the same ACQUIRE script, keys and arguments as the sync
``RedisStore`` (it prepares each call), so Flask and ASGI workers share one Redis and one set
of counters. Only the hot path is async (admit, renew); what is rare or needs SQL (seeding a
day's counter, refunds, settling lost replies, the usage flush) stays with the sync store, run
in a worker thread by the caller."""

from __future__ import annotations

from collections.abc import Iterable

import redis
import redis.asyncio as aredis

from portal.enforcement.engine import Admission
from portal.enforcement.overage import OverageWindow
from portal.enforcement.stores.base import Quota
from portal.enforcement.stores.redis import RedisStore, lease_set_seconds
from portal.enforcement.stores.redis_scripts import ACQUIRE

#: The sync client's connection settings the async client takes over.
_SHARED_KWARGS = (
    "host",
    "port",
    "db",
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "path",
)


def async_client_like(client: redis.Redis) -> aredis.Redis:
    """An asyncio client for the server, database and timeouts of a sync one."""
    kwargs = client.connection_pool.connection_kwargs
    shared = {name: kwargs[name] for name in _SHARED_KWARGS if name in kwargs}
    if "path" in shared:
        shared["unix_socket_path"] = shared.pop("path")
    return aredis.Redis(**shared)


class AsyncRedisAdmissions:
    """The async face of a ``RedisStore``: ``await acquire(...)`` and ``await renew(...)``."""

    def __init__(self, store: RedisStore, client: aredis.Redis | None = None) -> None:
        self.store = store
        self.client = client or async_client_like(store.client)
        self._acquire = self.client.register_script(ACQUIRE)

    def ready(self, tenant_id: int, now: float, overage: OverageWindow | None) -> bool:
        """Whether an admission can run on the loop now: counters seeded, nothing to settle."""
        return self.store.seeded(tenant_id, now, overage) and not self.store.has_unsure

    async def acquire(
        self,
        tenant_id: int,
        quota: Quota,
        now: float,
        lease_seconds: float,
        metrics: Iterable[str],
        overage: OverageWindow | None = None,
    ) -> Admission:
        """One round trip, on the loop (see ``RedisStore.acquire``; call ``ready`` first)."""
        call = self.store.prepare(tenant_id, quota, now, lease_seconds, tuple(metrics), overage)
        try:
            reply = await self._acquire(keys=call.keys, args=call.args)
        except (redis.RedisError, OSError):
            self.store.lost(call)
            raise
        return call.admission(reply)

    async def renew(self, tenant_id: int, lease: str, now: float, lease_seconds: float) -> None:
        leases = self.store.tenant_key(tenant_id, "leases")
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(leases, {lease: now + lease_seconds}, xx=True)
            pipe.expire(leases, lease_set_seconds(lease_seconds))
            await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()
