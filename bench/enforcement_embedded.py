"""(a) A fully decorated endpoint against the same endpoint undecorated, embedded store.

Run from the repository root: ``.venv/bin/python -m bench.enforcement_embedded``.
Target: ratio >= 0.80. The reference is flask-limiter alone with two limits (minute, day) on
in-memory storage, measured in the same run.
"""

from __future__ import annotations

from bench.harness import (
    bench_config,
    caller,
    enforced_api,
    limiter_app,
    report,
    served_throughputs,
    throughputs,
    throwaway_database,
)

CALLS, ROUNDS = 250, 30


def main() -> None:
    api, headers = enforced_api(bench_config(throwaway_database()))
    reference = limiter_app("memory://")
    rates = throughputs(
        {
            "undecorated": caller(api, "/bench/plain", headers),
            "metered + requires_feature": caller(api, "/bench/read", headers),
            "metered + storage_quota (POST)": caller(api, "/bench/write", headers, "POST"),
            "flask-limiter: undecorated": caller(reference, "/bench/plain", headers),
            "flask-limiter: 2 limits, memory": caller(reference, "/bench/limited", headers),
        },
        CALLS,
        ROUNDS,
    )
    served = served_throughputs(
        {
            "undecorated": (api, "/bench/plain", headers),
            "metered + requires_feature": (api, "/bench/read", headers),
            "flask-limiter: undecorated": (reference, "/bench/plain", headers),
            "flask-limiter: 2 limits, memory": (reference, "/bench/limited", headers),
        }
    )
    report(
        "(a) embedded store, Flask test client, one thread",
        rates,
        {
            "read (target >= 0.80)": ("metered + requires_feature", "undecorated"),
            "write with storage quota": ("metered + storage_quota (POST)", "undecorated"),
            "flask-limiter reference": (
                "flask-limiter: 2 limits, memory",
                "flask-limiter: undecorated",
            ),
        },
    )
    report(
        "(a) embedded store, threaded werkzeug server, 8 HTTP clients",
        served,
        {
            "read (target >= 0.80)": ("metered + requires_feature", "undecorated"),
            "flask-limiter reference": (
                "flask-limiter: 2 limits, memory",
                "flask-limiter: undecorated",
            ),
        },
    )


if __name__ == "__main__":
    main()
