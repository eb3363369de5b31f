"""Bench (e): FastAPI with the ASGI enforcement against the same FastAPI undecorated, in process
through httpx's ASGI transport, on the embedded store and on Redis, with slowapi (memory and
Redis, two limits) as the reference in the same run; then the event loop's lag under uvicorn
while 50 concurrent clients hammer a metered route.

Run from the repository root: ``.venv/bin/python -m bench.asgi`` (Redis at REDIS_URL, default
redis://127.0.0.1:6379/15). Targets: ratio >= 0.80 embedded and >= 0.50 Redis, ahead of
slowapi; loop lag p99 < 5 ms.

The load through uvicorn comes from keep-alive HTTP/1.1 connections driven by plain asyncio
streams, all opened before the clock starts. (The first version used one ``httpx.AsyncClient``
per simulated client: each costs about 0.1 s of CPU to build, for its TLS context, so 50 of them
took the whole 5 s window and the server saw about 10 requests a second.)
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request

from bench.harness import bench_config, enforced_api, throwaway_database
from examples.continuum_fastapi import FEATURES
from portal.enforcement import Enforcement, enforcement_for
from portal.enforcement.asgi import BillingMiddleware, FeatureAccessMiddleware, install

CALLS, ROUNDS = 300, 16
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
Call = Callable[[], Awaitable[int]]


def ok() -> dict[str, bool]:
    return {"ok": True}


def plain_app() -> FastAPI:
    app = FastAPI()
    app.add_api_route("/bench/read", ok)
    return app


#: What an enforced answer adds for the bench's tenant: the nine rate headers (values as sent).
RATE_HEADERS = [
    (b"x-ratelimit-limit-day", b"1000000000"),
    (b"x-ratelimit-limit-minute", b"1000000000"),
    (b"x-tier", b"enterprise"),
    (b"ratelimit-policy", b'"minute";q=1000000000;w=60, "day";q=1000000000;w=86400'),
    (b"x-ratelimit-remaining-day", b"999999999"),
    (b"x-ratelimit-remaining-minute", b"999999999"),
    (b"x-ratelimit-reset", b"1796083200"),
    (b"ratelimit", b'"day";r=999999999;t=73402'),
    (b"x-request-duration-ms", b"0.05"),
]
HEADERS_ONLY = "undecorated + 9 headers"


class RateHeadersOnly:
    """Adds ``RATE_HEADERS`` to every answer and does nothing else: the undecorated app wrapped
    in it costs what carrying the headers costs (server, client and transport), the part of
    enforcement's price no implementation of the same headers can cut."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *RATE_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def headers_only_app() -> FastAPI:
    app = plain_app()
    app.add_middleware(RateHeadersOnly)
    return app


def enforced_app(enforcement: Enforcement) -> FastAPI:
    """The undecorated app plus BillingMiddleware and FeatureAccessMiddleware (the example's
    feature map), nothing else: the ratio is what enforcement costs. (Until round 3 this was
    the whole example app, whose NoSniffing middleware and six routes matched before
    /bench/read were counted against enforcement too: about 0.02 of the ratio.)"""
    app = plain_app()
    install(app, enforcement=enforcement)
    app.add_middleware(FeatureAccessMiddleware, feature_map=FEATURES)
    app.add_middleware(BillingMiddleware)
    return app


def slowapi_installed() -> bool:
    """slowapi is in pyproject.toml, but a virtualenv built before it was added lacks it: the
    bench then says so instead of failing."""
    return importlib.util.find_spec("slowapi") is not None


def slowapi_app(storage_uri: str) -> FastAPI:
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    limiter = Limiter(
        key_func=get_remote_address, storage_uri=storage_uri, key_prefix=uuid.uuid4().hex
    )
    app = FastAPI()
    app.state.limiter = limiter

    @limiter.limit("1000000000/minute;1000000000/day")
    def read(request: Request) -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route("/bench/read", read)
    return app


def caller(client: httpx.AsyncClient, headers: dict[str, str]) -> Call:
    async def call() -> int:
        response = await client.get("/bench/read", headers=headers)
        return response.status_code

    return call


async def rates(variants: dict[str, Call]) -> tuple[dict[str, float], dict[str, float]]:
    """Best requests/second of each variant over interleaved rounds (as ``harness.throughputs``),
    by the wall clock and by this process's CPU time (all its threads: the handlers run in the
    threadpool). CPU time leaves out the moments other jobs on the machine had the CPU, and also
    the wait for Redis's reply: it is the Python cost of a call, the wall clock what a caller
    sees."""
    wall, cpu = dict.fromkeys(variants, 0.0), dict.fromkeys(variants, 0.0)
    for name, call in variants.items():
        assert await call() == 200, f"{name} did not answer 200"
    for round_number in range(ROUNDS):
        names = list(variants)
        if round_number % 2:
            names.reverse()  # no variant always runs right after the same other one
        for name in names:
            call = variants[name]
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(CALLS):
                await call()
            wall[name] = max(wall[name], CALLS / (time.perf_counter() - started))
            cpu[name] = max(cpu[name], CALLS / (time.process_time() - cpu_started))
    return wall, cpu


async def in_process(headers: dict[str, str], embedded: Enforcement, redis: Enforcement) -> None:
    apps = {
        "undecorated": plain_app(),
        HEADERS_ONLY: headers_only_app(),
        "enforced, embedded": enforced_app(embedded),
        "enforced, Redis": enforced_app(redis),
    }
    if slowapi_installed():
        apps["slowapi, memory"] = slowapi_app("memory://")
        apps["slowapi, Redis"] = slowapi_app(REDIS_URL)
    else:
        print("slowapi is not installed in this virtualenv: no reference figures")
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
        for name, app in apps.items()
    }
    wall, cpu = await rates({name: caller(client, headers) for name, client in clients.items()})
    for client in clients.values():
        await client.aclose()
    print(
        f"in process, httpx ASGI transport ({CALLS} calls x {ROUNDS} rounds, best round; "
        "goals: embedded >= 0.80, Redis >= 0.50, ahead of slowapi):"
    )
    for name in apps:
        print(
            f"  {name:22} {wall[name]:6.0f} req/s  ratio {wall[name] / wall['undecorated']:.2f}"
            f"   in CPU time: {cpu[name]:6.0f} calls/s  ratio {cpu[name] / cpu['undecorated']:.2f}"
        )


SERVE = """
import asyncio, asyncio.events, sys, time
import uvicorn
from bench.asgi import HEADERS_ONLY, enforced_app, headers_only_app, plain_app, slowapi_app
from portal.enforcement import Enforcement
database_url, port, variant, redis_url, prefix = sys.argv[1:6]
if variant == "undecorated":
    app = plain_app()
elif variant == HEADERS_ONLY:
    app = headers_only_app()
elif variant.startswith("slowapi"):
    app = slowapi_app(redis_url if variant.endswith("Redis") else "memory://")
else:
    settings = {"DATABASE_URL": database_url, "ENFORCEMENT_REDIS_PREFIX": prefix,
                "REDIS_URL": redis_url if variant.endswith("Redis") else ""}
    app = enforced_app(Enforcement.from_settings(settings))
lags, holds = [], []
async def probe():
    # How late a 1 ms sleep wakes up: whatever held the loop meanwhile, the OS included.
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - started - 0.001) * 1000)
run_one = asyncio.events.Handle._run
def timed(handle):
    # How long each callback (a task's step included) holds the loop: a blocking call shows here.
    started = time.perf_counter()
    run_one(handle)
    holds.append((time.perf_counter() - started) * 1000)
def p(ordered, share):
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0
@app.get("/health/lag")
async def lag():
    # Called before a measured window (starts the probes) and after it (stops them, reports).
    if getattr(app.state, "probe", None) is None:
        del lags[:], holds[:]
        asyncio.events.Handle._run = timed
        app.state.probe = asyncio.create_task(probe())
        return {}
    app.state.probe.cancel()
    app.state.probe = None
    asyncio.events.Handle._run = run_one
    lag, hold = sorted(lags), sorted(holds)
    return {"p50": p(lag, 0.5), "p99": p(lag, 0.99), "hold_p99": p(hold, 0.99),
            "hold_max": p(hold, 1.0), "steps": len(hold),
            "over_5ms": sum(1 for h in hold if h > 5)}
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")
"""


async def keep_alive(
    port: int, path: str, headers: dict[str, str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """One open connection to the server and the bytes of one GET request on it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return reader, writer, ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer(reader: asyncio.StreamReader) -> int:
    """Read one response (uvicorn always sends Content-Length for these); its status. The head
    is read in one piece, not line by line: the load generator shares the machine's two cores
    with the server, and a line-by-line read made each extra response header cost the server
    CPU time the undecorated app's responses did not pay."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    start = head.lower().find(b"\r\ncontent-length:")
    length = 0
    if start >= 0:
        start += len(b"\r\ncontent-length:")
        length = int(head[start : head.index(b"\r\n", start)])
    await reader.readexactly(length)
    return status


async def hammer(port: int, headers: dict[str, str], clients: int, seconds: float) -> int:
    """``clients`` connections, each sending its next request as soon as the last is answered,
    for ``seconds``; the number of 200s. The connections open before the clock starts."""
    connections = [await keep_alive(port, "/bench/read", headers) for _ in range(clients)]
    deadline = time.perf_counter() + seconds
    done = 0

    async def client(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ask: bytes
    ) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            writer.write(ask)
            status = await answer(reader)
            assert status == 200, status
            done += 1
        writer.close()

    await asyncio.gather(*(client(*connection) for connection in connections))
    return done


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, all its threads, user and system (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


UVICORN_VARIANTS = (
    "undecorated",
    HEADERS_ONLY,
    "enforced, embedded",
    "enforced, Redis",
    "slowapi, memory",
    "slowapi, Redis",
)
CLIENTS, WINDOW_SECONDS, UVICORN_ROUNDS = 50, 2.0, 3


def served(database_url: str, headers: dict[str, str], prefix: str) -> None:
    """Every variant under uvicorn in its own process, 50 keep-alive clients each, in
    interleaved rounds: the best round's rate, and the loop's lag during the median round."""
    env = os.environ | {"PYTHONPATH": os.getcwd()}
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for name in UVICORN_VARIANTS:
            if name.startswith("slowapi") and not slowapi_installed():
                continue
            port = free_port()
            args = [sys.executable, "-c", SERVE, database_url, str(port), name, REDIS_URL, prefix]
            servers[name] = subprocess.Popen(args, env=env), port
        for _, port in servers.values():
            for _ in range(150):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            asyncio.run(hammer(port, headers, CLIENTS, 0.5))  # warm: keys, seeds, threads
        best = dict.fromkeys(servers, 0.0)
        #: The server's CPU time per call (the window's calls over its CPU seconds), best round.
        cpu = dict.fromkeys(servers, 0.0)
        lags: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for _ in range(UVICORN_ROUNDS):
            for name, (server, port) in servers.items():
                base = f"http://127.0.0.1:{port}"
                httpx.get(f"{base}/health/lag")  # starts the probes
                cpu_started = cpu_seconds(server.pid)
                calls = asyncio.run(hammer(port, headers, CLIENTS, WINDOW_SECONDS))
                cpu_used = cpu_seconds(server.pid) - cpu_started
                lags[name].append(httpx.get(f"{base}/health/lag").json())
                best[name] = max(best[name], calls / WINDOW_SECONDS)
                cpu[name] = max(cpu[name], calls / max(cpu_used, 1e-9))
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait()
    print(
        f"uvicorn, {CLIENTS} concurrent keep-alive clients ({UVICORN_ROUNDS} rounds of "
        f"{WINDOW_SECONDS:.0f} s, best round; loop figures of the median round):"
    )
    base_rate, base_cpu = best["undecorated"], cpu["undecorated"]
    for name in servers:
        lag = sorted(lags[name], key=lambda found: found["p99"])[len(lags[name]) // 2]
        print(
            f"  {name:22} {best[name]:6.0f} req/s  ratio {best[name] / base_rate:.2f}  loop lag "
            f"p50 {lag['p50']:5.2f} ms p99 {lag['p99']:6.2f} ms  held per step p99 "
            f"{lag['hold_p99']:.2f} ms, {lag['over_5ms']} of {lag['steps']} steps over 5 ms"
        )
        print(
            f"  {'':22} server CPU {1e6 / cpu[name]:6.0f} us/call  ratio {cpu[name] / base_cpu:.2f}"
            "  (the server process, all threads; the load generator and Redis excluded)"
        )


def main() -> None:
    url = throwaway_database()
    api = enforced_api(bench_config(url))
    embedded = enforcement_for(api.app)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    redis_settings: dict[str, Any] = {
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "ENFORCEMENT_REDIS_PREFIX": prefix,
    }
    redis = Enforcement.from_settings(redis_settings)
    asyncio.run(in_process(api.headers, embedded, redis))
    redis.stop()
    served(url, api.headers, prefix)


if __name__ == "__main__":
    main()
