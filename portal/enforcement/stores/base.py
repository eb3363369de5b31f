"""What every counter store offers: admission, slot release, live counts and pending usage."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from portal.enforcement.engine import Admission
from portal.enforcement.overage import OverageWindow

#: (tenant id, metric, UTC day number) -> count not yet written to SQL.
UsageRows = dict[tuple[int, str, int], int]

_lease_numbers = itertools.count(1)
_token_prefix = ""


def _new_token_prefix() -> None:
    global _token_prefix
    _token_prefix = f"{os.urandom(4).hex()}:{os.getpid()}:"


_new_token_prefix()
os.register_at_fork(after_in_child=_new_token_prefix)  # forked workers must not share tokens


def new_lease_token() -> str:
    """A token unique across processes and hosts sharing one store (random tag, pid, counter)."""
    return f"{_token_prefix}{next(_lease_numbers)}"


class StoreUnavailable(RuntimeError):
    """The shared counter store cannot be reached and the fail mode is ``closed``."""


@dataclass(frozen=True, slots=True)
class Quota:
    """The three numbers a store checks atomically for one call."""

    per_minute: int
    per_day: int
    concurrent: int


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """What the dashboard shows as "now": calls this minute, today, and in flight."""

    minute: int
    day: int
    concurrent: int


@dataclass(slots=True)
class UsageBatch:
    """Usage taken from a store for one flush, by handle; acknowledged once SQL has it."""

    parts: dict[str, UsageRows] = field(default_factory=dict)
    #: Whether SQL records the handles in its batch ledger, so that a part taken again (by
    #: another flusher, after this one died before acknowledging) is never counted twice.
    ledgered: bool = False

    @property
    def handles(self) -> list[str]:
        return list(self.parts)

    @property
    def rows(self) -> UsageRows:
        """Every part's rows added up."""
        return merge_rows(self.parts.values())


def merge_rows(parts: Iterable[UsageRows]) -> UsageRows:
    merged: UsageRows = {}
    for rows in parts:
        for key, amount in rows.items():
            merged[key] = merged.get(key, 0) + amount
    return merged


class UsageSource(Protocol):
    """Somewhere counted usage waits for the flusher."""

    def take_usage(self) -> UsageBatch: ...

    def ack_usage(self, batch: UsageBatch) -> None:
        """SQL has the batch: forget it."""

    def return_usage(self, batch: UsageBatch) -> None:
        """SQL refused the batch: keep it for the next flush."""


class CounterStore(Protocol):
    @property
    def usage_sources(self) -> tuple[UsageSource, ...]:
        """Where this store's pending usage waits (the flusher drains each)."""

    def acquire(
        self,
        tenant_id: int,
        quota: Quota,
        now: float,
        lease_seconds: float,
        metrics: Iterable[str],
        overage: OverageWindow | None = None,
    ) -> Admission:
        """Check minute, day (or, past the day's quota with ``overage``, the period's overage
        calls against its allowance) and concurrency together; if all allow, count the call
        everywhere (an overage call also in the period's counter and the overage metrics)."""

    def release(self, tenant_id: int, lease: str) -> bool | None:
        """Give back a concurrency slot taken by ``acquire`` (the in-process store answers
        whether it held the lease)."""

    def refund(self, tenant_id: int, admission: Admission) -> None:
        """Take an admitted call back whole: its slot and everything it counted (a call our
        own gates refused after admission never counts)."""

    def renew(self, tenant_id: int, lease: str, now: float, lease_seconds: float) -> None:
        """Extend a held lease to ``now + lease_seconds`` (one that already expired stays gone)."""

    def live_counts(self, tenant_id: int, now: float) -> LiveCounts: ...

    def add_usage(self, tenant_id: int, metric: str, day: int, amount: int) -> None: ...

    def pending_usage(self, tenant_id: int, metric: str, days: Iterable[int]) -> int:
        """Usage counted but not yet in SQL (taken batches included until acknowledged)."""

    def bump_generation(self, tenant_id: int) -> None:
        """Tell every process sharing this store that the tenant's tier or keys changed."""

    def close(self) -> None: ...
