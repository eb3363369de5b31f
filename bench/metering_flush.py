"""(c) Metering flush: rows per second into usage_counter, and the largest loss window observed.

Run from the repository root: ``.venv/bin/python -m bench.metering_flush``. Part 1 times one
batched upsert of 10,000 rows (first as inserts, then as conflicting updates). Part 2 admits calls
from 4 threads for 5 s with the flusher running every USAGE_FLUSH_SECONDS (1 s) and records when
each flush took its batch and committed: the largest time from one flush's take to the next one's
commit is what a kill -9 in embedded mode could lose at worst. It ends by checking that SQL holds
exactly the calls admitted.
"""

from __future__ import annotations

import os
import random
import threading
import time

import sqlalchemy as sa

from bench.harness import UNLIMITED, bench_config, throwaway_database
from portal import create_app
from portal.enforcement import enforcement_for
from portal.enforcement.engine import day_window
from portal.enforcement.metering import write_usage
from portal.extensions import db
from portal.models import Tenant, UsageCounter

TENANTS, METRICS = 2000, 5
LOAD_SECONDS, THREADS = 5.0, 4


def main() -> None:
    app = create_app(bench_config(throwaway_database(), USAGE_FLUSH_SECONDS=1.0))
    enforcement = enforcement_for(app)
    engine = enforcement.engine
    with engine.begin() as connection:
        connection.execute(
            sa.insert(Tenant),
            [
                {"name": f"t{n}", "tier": "enterprise", "limit_overrides": UNLIMITED}
                for n in range(TENANTS)
            ],
        )
        tenant_ids = list(connection.scalars(sa.select(Tenant.id)))
    today = day_window(time.time())
    rows = {
        (tenant_id, f"metric_{m}", today): 1 for tenant_id in tenant_ids for m in range(METRICS)
    }
    print(f"(c) metering flush into {engine.dialect.name}, one transaction per flush")
    for label in ("new rows (insert)", "existing rows (upsert adds)"):
        started = time.perf_counter()
        write_usage(engine, rows)
        seconds = time.perf_counter() - started
        print(f"  {len(rows)} {label:<28} {len(rows) / seconds:9.0f} rows/s")

    takes: list[float] = []
    commits: list[float] = []
    flush = enforcement.flusher.flush

    def timed_flush() -> int:
        takes.append(time.monotonic())  # the flush takes the pending counts first thing
        written = flush()
        commits.append(time.monotonic())
        return written

    enforcement.flusher.flush = timed_flush  # type: ignore[method-assign]
    admitted = [0] * THREADS
    deadline = time.monotonic() + LOAD_SECONDS

    def load(slot: int) -> None:
        with app.app_context():
            policies = [enforcement.directory.policy(t) for t in tenant_ids[:200]]
            db.session.remove()
        while time.monotonic() < deadline:
            policy = random.choice(policies)
            assert policy is not None
            decision, admission = enforcement.admit(policy, ("api_calls", "api_calls:/bench"))
            if admission is not None and admission.lease is not None:
                enforcement.release(policy.tenant_id, admission.lease)
                admitted[slot] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=load, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load_end = time.monotonic()
    # A call admitted just after a flush took its batch waits for the next flush's commit: a
    # kill -9 right before that commit loses it. So the window runs from one take to the next
    # commit (from the start of the load to the first commit, and from the last take to the end
    # of the load, when nothing committed after it).
    windows = [commits[0] - started] if commits else []
    windows += [commit - take for take, commit in zip(takes, commits[1:], strict=False)]
    if takes:
        windows.append(load_end - takes[-1] if len(commits) == len(takes) else 0.0)
    windows = windows or [load_end - started]
    if os.environ.get("BENCH_VERBOSE"):
        print("  windows (ms):", [round(w * 1000) for w in windows])
    enforcement.stop()
    query = sa.select(sa.func.sum(UsageCounter.value)).where(UsageCounter.metric == "api_calls")
    with engine.connect() as connection:
        recorded = int(connection.scalar(query) or 0)
    total = sum(admitted)
    print(f"  calls admitted in {LOAD_SECONDS:.0f} s by {THREADS} threads {total:9d}")
    print(f"  flushes committed meanwhile          {len(commits):9d}")
    print(
        f"  largest loss window observed         {max(windows) * 1000:9.0f} ms "
        "(goal <= the flush interval, 1000 ms)"
    )
    print(f"  recorded == admitted                 {recorded == total!s:>9}")


if __name__ == "__main__":
    main()
