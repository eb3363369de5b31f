"""Run every benchmark in bench/ one after another (``make bench``).

Each runs as ``python -m bench.<name>`` from the repository root, in its own process, and prints
its own figures; this script only adds a heading per benchmark and a non-zero exit if one failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
#: Not benchmarks: the runner, shared set-up, and the cProfile tool for one page (a minute of
#: seeding for a profile dump; bench.profile_enforcement is quick and its split is a figure).
NOT_BENCHMARKS = {"run_all", "harness", "__init__", "profile_fragment"}
TIMEOUT_SECONDS = 240
#: Benchmarks that seed large databases (10,000 tenants × 90 days × 4 metrics, twice) or start
#: servers get longer.
LONG_TIMEOUTS = {"dashboard_fragment": 900, "webhook_intake": 300, "billing_page": 300}


def main() -> int:
    failed = []
    for script in sorted(BENCH.glob("*.py")):
        if script.stem in NOT_BENCHMARKS:
            continue
        print(f"\n=== bench/{script.name}", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", f"bench.{script.stem}"],
            cwd=BENCH.parent,
            timeout=LONG_TIMEOUTS.get(script.stem, TIMEOUT_SECONDS),
            check=False,
        )
        if result.returncode:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
