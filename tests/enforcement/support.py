"""Helpers shared by the enforcement tests: a clock to travel in time and a tenant's key."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class Account:
    """A tenant and one of its API keys."""

    tenant_id: int
    key: str
    key_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}
