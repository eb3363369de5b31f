"""Shared set-up for the enforcement benchmarks: a throwaway migrated database, the example API
with benchmark routes, flask-limiter reference apps, and an interleaved throughput timer.

Every figure is a ratio of two throughputs measured in the same run, through the same Flask test
client, so the machine's speed cancels out.
"""

from __future__ import annotations

import http.client
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.serving import WSGIRequestHandler, make_server

from examples.continuum_api import create_api_app
from portal import create_app
from portal.enforcement import enforcement_for, metered, requires_feature, storage_quota
from portal.enforcement.flask import _add_headers
from portal.extensions import db
from portal.keys.api_keys import create_api_key
from portal.models import Tenant

#: Limits high enough that no benchmark call is ever refused.
UNLIMITED = {
    "api_calls_per_minute": 10**9,
    "api_calls_per_day": 10**9,
    "concurrent_requests": 10**6,
    "memories": 10**9,
}
#: A Pro tenant with overage on and no daily quota: every call is billed as overage, up to a cap
#: no benchmark reaches ($10 million: 10^11 calls).
OVERAGE_EVERY_CALL = {**UNLIMITED, "api_calls_per_day": 0}
OVERAGE_CAP_CENTS = 10**9


def throwaway_database() -> str:
    """A migrated SQLite database in a temporary directory; returns its URL."""
    from flask_migrate import upgrade

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='continuum-bench-')) / 'bench.sqlite3'}"
    app = create_app(bench_config(url))
    with app.app_context():
        upgrade()
    return url


def bench_config(database_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": "",
        "MAIL_ENABLED": False,
        **extra,
    }


def ok() -> ResponseReturnValue:
    return jsonify(ok=True)


#: The nine headers an admitted call of the bench's enterprise tenant answers with (values as
#: sent): ``ok_with_rate_headers`` adds them and does nothing else.
RATE_HEADERS = {
    "X-RateLimit-Limit-Day": "1000000000",
    "X-RateLimit-Limit-Minute": "1000000000",
    "X-Tier": "enterprise",
    "RateLimit-Policy": '"minute";q=1000000000;w=60, "day";q=1000000000;w=86400',
    "X-RateLimit-Remaining-Day": "999999999",
    "X-RateLimit-Remaining-Minute": "999999999",
    "X-RateLimit-Reset": "1796083200",
    "RateLimit": '"day";r=999999999;t=73402',
    "X-Request-Duration-Ms": "0.05",
}


def ok_with_rate_headers() -> ResponseReturnValue:
    """The undecorated endpoint plus the rate headers, added as ``@metered`` adds them: what
    carrying them costs (Werkzeug and the test client handle each header several times), the
    part of the decorated endpoint's price no implementation of the same headers can cut."""
    response = jsonify(ok=True)
    _add_headers(response, RATE_HEADERS)
    return response


@dataclass(frozen=True)
class BenchApi:
    """The example API with the benchmark routes, and the key headers of its two tenants."""

    app: Flask
    #: An enterprise tenant that no limit ever refuses.
    headers: dict[str, str]
    #: A Pro tenant with overage on whose every call is billed as overage.
    overage_headers: dict[str, str]


def enforced_api(config: dict[str, Any]) -> BenchApi:
    """The example API plus /bench/plain (undecorated), /bench/headers (undecorated, with the
    rate headers), /bench/read and /bench/write (decorated)."""
    portal = create_app(config)
    api = create_api_app(config, enforcement=enforcement_for(portal))
    api.add_url_rule("/bench/plain", "plain", ok)
    api.add_url_rule("/bench/headers", "headers", ok_with_rate_headers)
    api.add_url_rule("/bench/read", "read", metered(requires_feature("semantic_search")(ok)))
    api.add_url_rule("/bench/write", "write", metered(storage_quota(ok)), methods=["POST"])
    with portal.app_context():
        tenant = Tenant(name="bench", tier="enterprise", limit_overrides=UNLIMITED)
        billed = Tenant(
            name="bench-overage",
            tier="pro",
            limit_overrides=OVERAGE_EVERY_CALL,
            overage_enabled=True,
            overage_cap_cents=OVERAGE_CAP_CENTS,
        )
        db.session.add_all([tenant, billed])
        db.session.commit()
        _, raw = create_api_key(tenant, "bench")
        _, billed_raw = create_api_key(billed, "bench")
    return BenchApi(api, {"X-API-Key": raw}, {"X-API-Key": billed_raw})


def limiter_app(storage_uri: str, key_prefix: str = "") -> Flask:
    """flask-limiter alone, with two limits (minute and day), on /bench/plain and /bench/limited."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    app = Flask("flask_limiter_reference")
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage_uri,
        strategy="fixed-window",
        key_prefix=key_prefix,
    )
    app.add_url_rule("/bench/plain", "plain", ok)
    app.add_url_rule(
        "/bench/limited", "limited", limiter.limit("1000000000/minute;1000000000/day")(ok)
    )
    return app


def caller(
    app: Flask,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    billed: bool = False,
) -> Callable[[], int]:
    """One call of ``path``; checked once to answer 200 (and, if ``billed``, to be billed as
    overage, so a variant measures what it says)."""
    client = app.test_client()

    def call() -> int:
        return client.open(path, method=method, headers=headers).status_code

    first = client.open(path, method=method, headers=headers)
    assert first.status_code == 200, f"{path} did not answer 200"
    overage = first.headers.get("X-Overage", "")
    assert overage.startswith("billed;") == billed, f"{path}: billed is not {billed}"
    return call


class Rates(dict[str, float]):
    """Each variant's best requests/second, and (``rounds``) every round's, variant by variant."""

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__(dict.fromkeys(names, 0.0))
        self.rounds: list[dict[str, float]] = []

    def add_round(self, rates: dict[str, float]) -> None:
        self.rounds.append(rates)
        for name, rate in rates.items():
            self[name] = max(self[name], rate)


def throughputs(
    variants: dict[str, Callable[[], int]],
    calls: int,
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Rates:
    """Requests/second of each variant: the best of ``rounds`` blocks of ``calls`` calls.

    The variants are interleaved block by block, and the best block is kept (as ``timeit``
    does), so other load on the machine disturbs the ratios as little as possible. With
    ``clock=time.thread_time`` the seconds are this thread's CPU time: what a call costs in
    Python, without the time other processes held the CPU (only fair for calls that wait on
    nothing, such as the embedded store's).
    """
    rates = Rates(variants)
    for _ in range(rounds):
        blocks = {}
        for name, call in variants.items():
            started = clock()
            for _ in range(calls):
                call()
            blocks[name] = calls / (clock() - started)
        rates.add_round(blocks)
    return rates


def _served_rate(
    port: int, path: str, headers: dict[str, str], seconds: float, clients: int
) -> float:
    """Requests/second ``clients`` threads get from 127.0.0.1:``port`` in ``seconds``."""
    counts = [0] * clients
    deadline = time.perf_counter() + seconds

    def client(slot: int) -> None:
        while time.perf_counter() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", port)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            assert response.status == 200, response.status
            counts[slot] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


class QuietHandler(WSGIRequestHandler):
    """No access log line per request: printing them would be most of what is measured."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def served_throughputs(
    variants: dict[str, tuple[Flask, str, dict[str, str]]],
    seconds: float = 1.5,
    rounds: int = 3,
    clients: int = 8,
) -> Rates:
    """Requests/second over real HTTP: each app served by a threaded werkzeug server on a free
    port, ``clients`` threads calling it, the best of ``rounds`` runs of ``seconds`` each."""
    servers = {
        name: make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        for name, (app, _, _) in variants.items()
    }
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    rates = Rates(variants)
    try:
        for _ in range(rounds):
            blocks = {}
            for name, (_, path, headers) in variants.items():
                port = servers[name].socket.getsockname()[1]
                blocks[name] = _served_rate(port, path, headers, seconds, clients)
            rates.add_round(blocks)
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
    return rates


def report(title: str, rates: dict[str, float], ratios: dict[str, tuple[str, str]]) -> None:
    print(title)
    for name, rate in rates.items():
        print(f"  {name:<34} {rate:9.0f} req/s")
    for label, (numerator, denominator) in ratios.items():
        print(f"  ratio {label:<28} {rates[numerator] / rates[denominator]:9.2f}")


def report_overage_gap(rates: Rates, billed: str, plain: str, base: str) -> None:
    """How far the decorated ratio moves when every call is billed as overage: between the
    best blocks, and the median of each round's own gap (blocks run back to back, so a load
    that comes and goes on a shared machine moves both sides of a round alike)."""
    best = (rates[billed] - rates[plain]) / rates[base]
    paired = statistics.median((r[billed] - r[plain]) / r[base] for r in rates.rounds)
    print(
        f"  {'ratio gap, overage on - off':<34} {best:+9.3f}   (best blocks; target: within 0.02)"
    )
    print(f"  {'  median of per-round gaps':<34} {paired:+9.3f}   ({len(rates.rounds)} rounds)")
