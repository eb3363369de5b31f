"""(d) Import time: how long ``import portal.enforcement`` takes in a fresh interpreter.

Run from the repository root: ``.venv/bin/python -m bench.import_time``. Each import is timed
inside its own new Python process (interpreter start-up excluded), with compiled bytecode cached
in a temporary directory as a deployed service would have it (one warm-up run each, even where
PYTHONDONTWRITEBYTECODE is set), then ``RUNS`` times, interleaved
with a baseline measured in the same run: ``import sqlalchemy`` alone, which enforcement cannot
do without. ``portal.models`` (SQLAlchemy's ORM plus the portal's tables, which enforcement reads
and writes) shows how much of the rest is the tables. The median of each is printed against the
goal, and the ratio to the baseline is the figure that holds on a busier or quieter machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
GOAL_SECONDS = 0.4
#: What each fresh interpreter imports, by the name printed for it.
IMPORTS = {
    "import sqlalchemy (baseline)": "import sqlalchemy",
    "import portal.models (the tables it uses)": "import portal.models",
    "import portal.enforcement": "import portal.enforcement",
    "  + the Flask adapter (metered)": "from portal.enforcement import metered",
    "the whole portal app (create_app)": (
        "from portal import create_app; create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://'})"
    ),
}
BASELINE = "import sqlalchemy (baseline)"
TIMER = "import time; _t = time.perf_counter(); {statement}; print(time.perf_counter() - _t)"


def seconds_to_run(statement: str, pycache: str) -> float:
    """Seconds ``statement`` takes in a new interpreter that runs this checkout's code."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": pycache}
    env |= {"SECRET_KEY": "bench", "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-c", TIMER.format(statement=statement)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    samples: dict[str, list[float]] = {name: [] for name in IMPORTS}
    with tempfile.TemporaryDirectory(prefix="continuum-pycache-") as pycache:
        for statement in IMPORTS.values():
            seconds_to_run(statement, pycache)  # writes the bytecode
        for _ in range(RUNS):  # interleaved, so a busy moment weighs on every import alike
            for name, statement in IMPORTS.items():
                samples[name].append(seconds_to_run(statement, pycache))
    medians = {name: statistics.median(times) for name, times in samples.items()}
    baseline = medians[BASELINE]
    print(f"  median of {RUNS} fresh interpreters each      seconds   x baseline")
    for name, median in medians.items():
        print(f"  {name:40} {median:8.3f}   {median / baseline:9.2f}")
    enforcement = medians["import portal.enforcement"]
    verdict = "met" if enforcement < GOAL_SECONDS else "NOT met"
    print(f"  goal: import portal.enforcement < {GOAL_SECONDS} s: {verdict} ({enforcement:.3f} s)")


if __name__ == "__main__":
    main()
