"""The first-run guide on an empty dashboard: create a key, make a first call, watch the bar
move. Each step ticks when it is done; once all three are, the guide is not shown again.

Also the example call the guide and the keys page show: a ``curl`` against the API's address,
``API_BASE_URL`` when the API is served elsewhere, else this portal's own (``PORTAL_BASE_URL``,
where ``make run`` serves the example API).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select

from portal.config import portal_url
from portal.dashboard.usage import CALLS_METRIC
from portal.models import ApiKey, UsageCounter

#: The endpoint the example calls: listing memories works on every plan and changes nothing.
EXAMPLE_PATH = "/api/memories"
#: What the example says in place of a key the page cannot show again.
KEY_PLACEHOLDER = "$CONTINUUM_API_KEY"


@dataclass(frozen=True)
class FirstRun:
    """Where a new tenant stands on the three steps."""

    has_key: bool
    called: bool
    counted: bool

    @property
    def done(self) -> bool:
        return self.has_key and self.called and self.counted


def api_base_url() -> str:
    """The address API calls go to: ``API_BASE_URL``, else this portal's own."""
    configured = str(current_app.config.get("API_BASE_URL") or "")
    return configured.rstrip("/") or portal_url("")


def example_curl(key: str = KEY_PLACEHOLDER) -> str:
    """A first call to paste in a terminal."""
    return f'curl -H "Authorization: Bearer {key}" {api_base_url()}{EXAMPLE_PATH}'


#: The guide's reads as scalar subqueries bound by ``tenant_id``, to ride along the polled
#: fragment's one SELECT (``portal.dashboard.reads``): the tenant's keys, the keys ever used,
#: and whether any call was ever counted (0 or 1: the first counter row found, by primary key).
FIRST_RUN_COLUMNS = (
    select(func.count(ApiKey.id))
    .where(ApiKey.tenant_id == bindparam("tenant_id"))
    .scalar_subquery(),
    select(func.count(ApiKey.last_used_at))
    .where(ApiKey.tenant_id == bindparam("tenant_id"))
    .scalar_subquery(),
    select(func.count())
    .select_from(
        select(UsageCounter.value)
        .where(
            UsageCounter.tenant_id == bindparam("tenant_id"),
            UsageCounter.metric == CALLS_METRIC,
        )
        .limit(1)
        .subquery()
    )
    .scalar_subquery(),
)


def steps_from(counts: Sequence[int], calls_today: int = 0) -> FirstRun:
    """The steps from ``FIRST_RUN_COLUMNS``' values (and today's live count, which may be ahead
    of every flushed counter)."""
    keys, used_keys, any_counted = counts
    counted = calls_today > 0 or any_counted > 0
    return FirstRun(has_key=keys > 0, called=used_keys > 0 or counted, counted=counted)


def first_run_context(steps: FirstRun, *, keep: bool = False) -> dict[str, Any]:
    """The guide's template values; ``first_run`` is None once every step is done, unless
    ``keep`` (a page already showing the guide sees its last tick)."""
    return {
        "first_run": steps if keep or not steps.done else None,
        "example_curl": example_curl(),
        "api_base_url": api_base_url(),
    }
