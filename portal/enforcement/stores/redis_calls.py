"""One admission's Redis script call, built without I/O so a sync or an async client can
send it (``RedisStore.prepare``), and how its reply reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.enforcement.engine import Admission

#: The suffix of an overage call's lease (see ACQUIRE).
OVERAGE_LEASE = ":o"


@dataclass(frozen=True, slots=True)
class ScriptLayout:
    """One tenant's admission keys and fixed script arguments for one day (and period)."""

    minute_prefix: str
    day_key: str
    leases_key: str
    generation_key: str
    #: The period's overage counter (the day key when overage is off: never touched then).
    overage_key: str
    fields: list[str]
    overage_fields: list[str]
    #: The overage counter's TTL: past the period's end (0 when overage is off).
    overage_ttl: int
    args: list[str | int | float]


@dataclass(slots=True)
class PreparedCall:
    """One admission's script call (``RedisStore.prepare``) and how to read its reply."""

    keys: list[str]
    args: list[str | int | float]
    token: str
    layout: ScriptLayout
    releases: list[tuple[str, str]]

    def admission(self, reply: list[Any]) -> Admission:
        refused, minute_count, day_count, in_flight, generation, overage_calls = reply
        if refused:
            return Admission(
                refused.decode(),
                minute_count,
                day_count,
                in_flight,
                None,
                generation,
                overage_calls=overage_calls,
            )
        return Admission(
            None,
            minute_count,
            day_count,
            in_flight,
            f"{self.token}{OVERAGE_LEASE}" if overage_calls >= 0 else self.token,
            generation,
            overage_calls=overage_calls,
            receipt=(self.keys[0], self.layout),
        )
