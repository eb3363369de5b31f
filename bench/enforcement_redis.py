"""(b) The same comparison as (a) with the Redis store, plus Redis round trips per request.

Run from the repository root: ``.venv/bin/python -m bench.enforcement_redis`` (Redis at
$REDIS_URL, default redis://127.0.0.1:6379/0). Goals: ratio >= 0.55 through the test client
(issue 16; the floor row shows what bounds it) and at most 2 round trips per request. The
reference is flask-limiter alone, two limits, Redis fixed window. Round trips are counted
on the client (every packet redis-py sends is one) and checked against the server's own
command count. It also measures the floor: the undecorated endpoint plus one round trip
of a script that does nothing, over the same kind of connection the store uses. No limiter
that makes a round trip per call can beat that ratio on this machine. The same decorated
endpoint called by a Pro tenant whose every call is billed as overage must stay within 0.02 of
the ratio (and at the same round trips per request).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

import redis
from flask import Flask
from flask.typing import ResponseReturnValue
from redis.connection import AbstractConnection

from bench.harness import (
    bench_config,
    caller,
    enforced_api,
    limiter_app,
    ok,
    report,
    report_overage_gap,
    served_throughputs,
    throughputs,
    throwaway_database,
)
from portal.enforcement.stores.redis import connect
from portal.enforcement.stores.redis_link import ScriptLink

CALLS, ROUNDS = 200, 20
COUNTED_CALLS = 1000
READ, BILLED = "metered + requires_feature", "same, every call billed as overage"


class RoundTrips:
    """Counts what redis-py sends: one ``send_packed_command`` is one round trip."""

    def __init__(self) -> None:
        self.count = 0
        self._original = AbstractConnection.send_packed_command

    def __enter__(self) -> RoundTrips:
        original = self._original

        def counting(connection: AbstractConnection, *args: object, **kwargs: object) -> None:
            self.count += 1
            original(connection, *args, **kwargs)

        AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        AbstractConnection.send_packed_command = self._original  # type: ignore[method-assign]


def server_commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def per_request(call: Callable[[], int], client: redis.Redis) -> tuple[float, float]:
    """(client round trips, server commands) per call, over ``COUNTED_CALLS`` calls."""
    before = server_commands(client)
    with RoundTrips() as trips:
        for _ in range(COUNTED_CALLS):
            call()
    # The INFO calls themselves are two commands; the server counts a script as one command.
    commands = server_commands(client) - before - 1
    return trips.count / COUNTED_CALLS, commands / COUNTED_CALLS


def ping_microseconds(client: redis.Redis, pings: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(pings):
        client.ping()
    return (time.perf_counter() - started) / pings * 1e6


def add_floor_route(api: Flask, url: str) -> None:
    """/bench/floor: the undecorated endpoint plus one no-op script round trip to Redis."""
    nothing = ScriptLink(connect(url, timeout=2.0), "return 0")

    def floor() -> ResponseReturnValue:
        nothing([], [])
        return ok()

    api.add_url_rule("/bench/floor", "floor", floor)


def main() -> None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(url)
    config = bench_config(
        throwaway_database(), REDIS_URL=url, ENFORCEMENT_REDIS_PREFIX=prefix, USAGE_FLUSH_SECONDS=1
    )
    bench = enforced_api(config)
    api, headers = bench.app, bench.headers
    add_floor_route(api, url)
    reference = limiter_app(url, key_prefix=prefix)
    try:
        read = caller(api, "/bench/read", headers)
        billed = caller(api, "/bench/read", bench.overage_headers, billed=True)
        rates = throughputs(
            {
                "undecorated": caller(api, "/bench/plain", headers),
                READ: read,
                BILLED: billed,
                "floor: undecorated + 1 round trip": caller(api, "/bench/floor", headers),
                "flask-limiter: undecorated": caller(reference, "/bench/plain", headers),
                "flask-limiter: 2 limits, redis": caller(reference, "/bench/limited", headers),
            },
            CALLS,
            ROUNDS,
        )
        # The same in this thread's CPU time: what the calls cost here, Python and system calls,
        # without the wait for Redis's reply (or for the CPU, on a shared machine).
        cpu = throughputs(
            {
                "undecorated": caller(api, "/bench/plain", headers),
                "floor: undecorated + 1 round trip": caller(api, "/bench/floor", headers),
                READ: read,
                BILLED: billed,
            },
            CALLS,
            ROUNDS,
            clock=time.thread_time,
        )
        trips, commands = per_request(read, client)
        billed_trips, billed_commands = per_request(billed, client)
        served = served_throughputs(
            {
                "undecorated": (api, "/bench/plain", headers),
                READ: (api, "/bench/read", headers),
                BILLED: (api, "/bench/read", bench.overage_headers),
                "flask-limiter: undecorated": (reference, "/bench/plain", headers),
                "flask-limiter: 2 limits, redis": (reference, "/bench/limited", headers),
            }
        )
        ping = ping_microseconds(client)
    finally:
        keys = list(client.scan_iter(f"{prefix}*")) + list(client.scan_iter(f"*{prefix}*"))
        if keys:
            client.delete(*set(keys))
    report(
        "(b) Redis store, Flask test client, one thread",
        rates,
        {
            "read (goal >= 0.55)": (READ, "undecorated"),
            "read, billed as overage": (BILLED, "undecorated"),
            "floor (1 no-op round trip)": ("floor: undecorated + 1 round trip", "undecorated"),
            "flask-limiter reference": (
                "flask-limiter: 2 limits, redis",
                "flask-limiter: undecorated",
            ),
        },
    )
    report_overage_gap(rates, BILLED, READ, "undecorated")
    report(
        "(b) Redis store, Flask test client, one thread, this thread's CPU time",
        cpu,
        {
            "read (goal >= 0.55)": (READ, "undecorated"),
            "read, billed as overage": (BILLED, "undecorated"),
            "floor (1 no-op round trip)": ("floor: undecorated + 1 round trip", "undecorated"),
        },
    )
    print(f"  Redis round trips per request     {trips:9.2f}   (target <= 2)")
    print(f"  Redis commands per request        {commands:9.2f}   (server's count, Lua included)")
    print(f"  round trips, billed as overage    {billed_trips:9.2f}")
    print(f"  commands, billed as overage       {billed_commands:9.2f}")
    print(f"  Redis PING round trip             {ping:9.0f} us (this machine, now)")
    report(
        "(b) Redis store, threaded werkzeug server, 8 HTTP clients",
        served,
        {
            "read": (READ, "undecorated"),
            "read, billed as overage": (BILLED, "undecorated"),
            "flask-limiter reference": (
                "flask-limiter: 2 limits, redis",
                "flask-limiter: undecorated",
            ),
        },
    )
    report_overage_gap(served, BILLED, READ, "undecorated")


if __name__ == "__main__":
    main()
