"""Where a decorated call's extra time goes, step by step: the evidence behind the README's
"what bounds (a)".

Bench (a) compares ``@metered`` + ``@requires_feature`` with the same endpoint undecorated. This
tool measures, in the same run and through the same test client:

- the undecorated call; the same view under a decorator that does nothing but add the nine rate
  headers (the floor any decorator with those headers starts from); and the decorated call
  (interleaved blocks, best block, as bench (a) does);
- then, with a timer around each step the decorator takes (the functions ``@metered`` calls,
  looked up in its module, so the decorator itself is not copied here), what each step costs
  inside a real request.

It prints the budget the 0.90 goal leaves, what the floor takes of it, and each step.
The timers add a little to each step (two clock reads and a call), so the steps are an upper
bound; the totals are measured without them.

    .venv/bin/python -m bench.profile_enforcement
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue

import portal.enforcement.flask as decorator_module
from bench.harness import (
    RATE_HEADERS,
    bench_config,
    caller,
    enforced_api,
    ok,
    throughputs,
    throwaway_database,
)
from portal import metrics
from portal.enforcement.lifecycle import Call

BLOCK, ROUNDS = 300, 30
GOAL = 0.90
#: The functions ``@metered``'s wrapper calls, by the name it calls them under (adding the
#: headers is not among them: it is part of the floor).
STEPS = ("_identify", "_route", "_gate_check", "admit")


def with_floor(app: Flask) -> None:
    """``/bench/floor``: the undecorated view under a decorator that only reads what
    ``@metered`` reads from Flask (the app, the environ) and adds the nine rate headers."""

    @wraps(ok)
    def floor() -> ResponseReturnValue:
        current_app._get_current_object()  # type: ignore[attr-defined]
        request.environ.get(decorator_module.CALLER_KEY)
        response = ok()
        decorator_module._add_headers(response, dict(RATE_HEADERS))  # type: ignore[arg-type]
        return response

    app.add_url_rule("/bench/floor", "floor", floor)


def best_microseconds(variants: dict[str, Callable[[], int]]) -> dict[str, float]:
    """Each variant's best block, in µs per call (``harness.throughputs``: interleaved blocks)."""
    rates = throughputs(variants, BLOCK, ROUNDS)
    return {name: 1e6 / rate for name, rate in rates.items()}


def _timed(spent: dict[str, int], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    clock = time.perf_counter_ns

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += clock() - started

    return timed


@contextmanager
def step_timers(spent: dict[str, int]) -> Iterator[None]:
    """Time each step of the decorator while the block runs (and put the steps back after)."""
    originals: dict[tuple[Any, str], Any] = {
        (decorator_module, name): getattr(decorator_module, name) for name in STEPS
    }
    originals[(Call, "finish")] = Call.finish
    originals[(metrics, "api_call")] = metrics.api_call
    try:
        for (owner, name), function in originals.items():
            setattr(owner, name, _timed(spent, name, function))
        yield
    finally:
        for (owner, name), function in originals.items():
            setattr(owner, name, function)


def main() -> None:
    bench = enforced_api(bench_config(throwaway_database(), USAGE_FLUSH_SECONDS=3600))
    with_floor(bench.app)
    totals = best_microseconds(
        {name: caller(bench.app, f"/bench/{name}", bench.headers) for name in ("plain", "floor")}
        | {"read": (read := caller(bench.app, "/bench/read", bench.headers))}
    )
    spent: dict[str, int] = defaultdict(int)
    calls = BLOCK * 20
    with step_timers(spent):
        for _ in range(calls):
            read()
    base = totals["plain"]
    budget = base / GOAL - base
    print("(a) where a decorated call's time goes (embedded store, Flask test client)")
    print(f"  undecorated call                      {base:7.1f} µs")
    print(f"  decorated call                        {totals['read']:7.1f} µs")
    print(f"  ratio                                 {base / totals['read']:7.2f}")
    print(f"  budget a ratio of {GOAL:.2f} leaves          {budget:7.1f} µs")
    floor = totals["floor"] - base
    print(f"  spent beyond the undecorated call     {totals['read'] - base:7.1f} µs, of which:")
    print(f"    a decorator that only adds the nine rate headers {floor:5.1f} µs")
    print(f"      (leaving {budget - floor:.1f} µs of the budget for everything enforcement does)")
    stepped = 0.0
    for name, nanoseconds in spent.items():
        each = nanoseconds / calls / 1000
        stepped += each
        print(f"    step {name:<30} {each:7.1f} µs")
    rest = totals["read"] - totals["floor"] - stepped
    print(f"    the rest, unattributed               {rest:7.1f} µs")
    print("      (the wrapper's own lines between the steps, and the view and Flask running")
    print("      beside more code; each step above includes its timer, about 0.3 µs)")


if __name__ == "__main__":
    main()
