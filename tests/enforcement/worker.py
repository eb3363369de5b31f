"""A worker process for the multi-process tests: threads calling the example API for one key.

Run as ``python -m tests.enforcement.worker '<json spec>'``. It prints ``ready``, waits for a
line on stdin, runs, prints a JSON count of status codes (and under ``billed``, of the calls
billed as overage), and then either stops gracefully,
(``"linger": true``) waits for the test to kill it, or (``"die_after_commit": true``) flushes
and kills itself with SIGKILL between the flush's SQL commit and its acknowledgement to Redis.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter

from examples.continuum_api import create_api_app
from portal.enforcement import enforcement_for


def main() -> None:
    spec = json.loads(sys.argv[1])
    app = create_api_app(spec["config"])
    enforcement = enforcement_for(app)
    if "now" in spec:
        enforcement.clock = lambda: spec["now"]
    statuses: Counter[int | str] = Counter()
    lock = threading.Lock()
    headers = {"X-API-Key": spec["key"]}

    def hammer() -> None:
        client = app.test_client()
        for _ in range(spec["calls"]):
            response = client.get("/api/memories", headers=headers)
            with lock:
                statuses[response.status_code] += 1
                if response.headers.get("X-Overage", "").startswith("billed;"):
                    statuses["billed"] += 1

    threads = [threading.Thread(target=hammer) for _ in range(spec["threads"])]
    print("ready", flush=True)
    sys.stdin.readline()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(statuses), flush=True)
    if spec.get("linger"):
        sys.stdin.readline()
    if spec.get("die_after_commit"):
        enforcement.flusher.after_commit = lambda batch: os.kill(os.getpid(), signal.SIGKILL)
        enforcement.flusher.flush()
    enforcement.stop()


if __name__ == "__main__":
    main()
