"""Where a dashboard poll's time goes: cProfile of N requests to one page, on the bench's data.

Seeds the same 10,000 tenants × 90 days × 4 metrics as ``bench.dashboard_fragment`` into a
SQLite file (kept, so a second run with ``--database`` skips the minute of seeding), signs the
measured owner in, warms up, then profiles ``--requests`` requests through the test client and
prints the server CPU per request, the queries per request and the top of the profile.

    .venv/bin/python -m bench.profile_fragment                      # seed, profile the fragment
    .venv/bin/python -m bench.profile_fragment --database sqlite:////tmp/x.sqlite3 --page /usage
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.dashboard_fragment import FRAGMENTS, PAGES, next_poll, seed, signed_in_client
from bench.harness import bench_config, throwaway_database
from portal import create_app
from portal.extensions import db
from portal.models import User


def owner_client(app: Flask) -> Any:
    """A test client with the bench owner's session, as ``bench.dashboard_fragment`` makes."""
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.email == "bench@example.com"))
    assert user_id is not None
    return signed_in_client(app, user_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help="an already seeded SQLite URL (printed by a run)")
    parser.add_argument("--page", default="fragment", help=f"one of: {'; '.join(PAGES)}")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args()
    url = args.database
    if url is None:
        url = throwaway_database()
        seed(create_app(bench_config(url, METER_REPORTER_ENABLED=False)))
        print(f"seeded {url}")
    app = create_app(bench_config(url, METER_REPORTER_ENABLED=False))
    client = owner_client(app)
    path = PAGES[args.page]
    if args.page == "fragment":  # as the browser polls it: the chart the page shows is known
        path = next_poll(client.get("/").get_data(as_text=True))  # type: ignore[attr-defined]
    headers = {"HX-Request": "true"} if args.page in FRAGMENTS else {}
    queries = []
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", lambda *a, **k: queries.append(1))
    for _ in range(50):
        assert client.get(path, headers=headers).status_code == 200  # type: ignore[attr-defined]
    queries.clear()
    profile = cProfile.Profile()
    cpu = time.process_time()
    profile.enable()
    for _ in range(args.requests):
        client.get(path, headers=headers)  # type: ignore[attr-defined]
    profile.disable()
    cpu = time.process_time() - cpu
    print(
        f"{args.page}: {args.requests} requests, {cpu / args.requests * 1000:.2f} ms CPU each "
        f"under the profiler, {len(queries) / args.requests:g} queries each"
    )
    cpu = time.process_time()
    for _ in range(args.requests):
        client.get(path, headers=headers)  # type: ignore[attr-defined]
    cpu = time.process_time() - cpu
    print(f"{args.page}: {cpu / args.requests * 1000:.2f} ms CPU each without the profiler")
    stats = pstats.Stats(profile)
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
