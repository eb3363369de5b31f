"""A clock for the enforcement tests to travel in time with."""

from __future__ import annotations

#: 2026-11-21 10:00:00 UTC, on a minute boundary: tests add seconds to it.
START = 1_795_255_200.0


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
