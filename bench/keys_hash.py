"""How much one API-key check costs: SHA-256 (what we use) against PBKDF2-HMAC-SHA256 at 100k.

Run: ``.venv/bin/python bench/keys_hash.py``. Prints the time per check of each and the ratio.
"""

from __future__ import annotations

import hashlib
import os
import timeit

from portal.keys.api_keys import generate_key, hash_key

PBKDF2_ITERATIONS = 100_000


def per_call_seconds(function, repeat: int = 5) -> float:
    """The best of ``repeat`` timings, per call, with the number of calls picked automatically."""
    timer = timeit.Timer(function)
    calls, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=calls)) / calls


def main() -> None:
    raw, _ = generate_key("test")
    salt = os.urandom(16)
    sha = per_call_seconds(lambda: hash_key(raw))
    pbkdf2 = per_call_seconds(
        lambda: hashlib.pbkdf2_hmac("sha256", raw.encode(), salt, PBKDF2_ITERATIONS), repeat=3
    )
    print(f"SHA-256 of one key:                {sha * 1e6:10.2f} µs per check")
    print(f"PBKDF2-HMAC-SHA256, {PBKDF2_ITERATIONS:,} iter.: {pbkdf2 * 1e3:10.2f} ms per check")
    print(f"ratio: PBKDF2 costs {pbkdf2 / sha:,.0f}x a SHA-256 per API call")


if __name__ == "__main__":
    main()
