"""Admissions on the event loop: the same ACQUIRE script, keys and arguments as the sync
``RedisStore`` (it prepares each call), so Flask and ASGI workers share one Redis and one set
of counters. Only the admission is async; what is rare or needs SQL (seeding a day's counter,
refunds, renewals, settling lost replies, the usage flush) stays with the sync store, run in a
worker thread by the caller.

One connection per event loop carries every admission, pipelined: each call writes its EVALSHA
and waits for its own reply. Redis answers a connection's commands in order, so a queue of
futures matches replies to callers. hiredis packs the command and parses the reply in C. (Through
``redis.asyncio`` one admission cost about 0.2 ms of CPU and 0.5 ms on the loop here: a pool
checkout, retries and bookkeeping per command; this costs about 25 µs of CPU.)

A call that times out closes the connection, so no late reply can answer a later call; every call
waiting on a closed connection fails, and the caller decides it the sync way (circuit breaker,
fail mode). The next call connects again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Iterable
from typing import Any

import hiredis
import redis

from portal.enforcement.engine import Admission
from portal.enforcement.overage import OverageWindow
from portal.enforcement.stores.base import Quota
from portal.enforcement.stores.redis import SOCKET_TIMEOUT_SECONDS, RedisStore
from portal.enforcement.stores.redis_scripts import ACQUIRE

#: The sync client's connection classes whose settings this module knows how to reuse (TLS,
#: for one, is not: such a store admits in a worker thread instead).
_PLAIN_CONNECTIONS = (redis.Connection, redis.UnixDomainSocketConnection)


class RedisProtocol(asyncio.Protocol):
    """One Redis connection: commands written in order, replies handed out in order."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, *command: str | int | float | bytes) -> asyncio.Future[Any]:
        """Write one command; the future gets its reply (an error reply as a ReplyError)."""
        if self.closed is not None or self.transport is None:
            raise self.closed or redis.ConnectionError("not connected to Redis")
        future = asyncio.get_running_loop().create_future()
        # hiredis's stub types the argument as a 1-tuple; any length is packed.
        self.transport.write(hiredis.pack_command(command))  # type: ignore[arg-type]
        self.waiting.append(future)
        return future

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                future = self.waiting.popleft()
                if not future.done():  # done: its caller timed out (and closed us)
                    future.set_result(reply)
        except hiredis.ProtocolError as error:
            self.close(redis.ConnectionError(f"unreadable reply from Redis ({error})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(redis.ConnectionError(f"the connection to Redis closed ({exc or 'EOF'})"))

    def close(self, error: Exception) -> None:
        """Fail every waiting call with ``error`` and drop the connection."""
        if self.closed is None:
            self.closed = error
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()


def supported(store: RedisStore) -> bool:
    """Whether admissions for ``store`` can run on the loop (a plain TCP or Unix connection)."""
    pool = store.client.connection_pool
    return getattr(pool, "connection_class", None) in _PLAIN_CONNECTIONS and callable(
        getattr(hiredis, "pack_command", None)
    )


class AsyncRedisAdmissions:
    """The async face of a ``RedisStore``: ``await acquire(...)`` (check ``supported`` first)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        settings = store.client.connection_pool.connection_kwargs
        self.settings = settings
        self.timeout = float(settings.get("socket_timeout") or SOCKET_TIMEOUT_SECONDS)
        self.connect_timeout = float(settings.get("socket_connect_timeout") or self.timeout)
        self.sha = hashlib.sha1(ACQUIRE.encode()).hexdigest()
        self._protocol: RedisProtocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[RedisProtocol] | None = None

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
            reply = await self._run(len(call.keys), *call.keys, *call.args)
        except (redis.RedisError, OSError):  # a timeout is an OSError too
            self.store.lost(call)
            raise
        return call.admission(reply)

    async def _run(self, *arguments: str | int | float) -> Any:
        protocol = await self._connection()
        try:
            async with asyncio.timeout(self.timeout):
                reply = await protocol.send("EVALSHA", self.sha, *arguments)
                if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
                    reply = await protocol.send("EVAL", ACQUIRE, *arguments)  # caches it again
        except TimeoutError:
            protocol.close(redis.TimeoutError("Redis did not answer in time"))
            raise
        if isinstance(reply, hiredis.ReplyError):
            raise redis.ResponseError(str(reply))
        return reply

    async def _connection(self) -> RedisProtocol:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a connection belongs to the loop that made it
            self._drop()
            self._loop = loop
        protocol = self._protocol
        if protocol is not None and protocol.closed is None:
            return protocol
        if self._opening is None or self._opening.done():
            self._opening = loop.create_task(self._open())
        self._protocol = await asyncio.shield(self._opening)
        return self._protocol

    async def _open(self) -> RedisProtocol:
        loop = asyncio.get_running_loop()
        settings = self.settings
        async with asyncio.timeout(self.connect_timeout):
            if settings.get("path"):
                _, protocol = await loop.create_unix_connection(RedisProtocol, settings["path"])
            else:
                host, port = settings.get("host", "localhost"), settings.get("port", 6379)
                _, protocol = await loop.create_connection(RedisProtocol, host, port)
            setup = []
            password, username = settings.get("password"), settings.get("username")
            if password:
                login = ("AUTH", username, password) if username else ("AUTH", password)
                setup.append(protocol.send(*login))
            if settings.get("db"):
                setup.append(protocol.send("SELECT", settings["db"]))
            for reply in await asyncio.gather(*setup):
                if isinstance(reply, hiredis.ReplyError):
                    protocol.close(redis.ConnectionError(str(reply)))
                    raise redis.ConnectionError(f"Redis refused the connection's setup: {reply}")
        return protocol

    def _drop(self) -> None:
        if self._protocol is not None:
            self._protocol.close(redis.ConnectionError("closed"))
        self._protocol, self._opening = None, None

    async def close(self) -> None:
        self._drop()
