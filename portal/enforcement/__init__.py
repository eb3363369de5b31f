"""Enforcement for the CONTINUUM API: per-tier rate limits, concurrency, features, storage quotas
and durable usage metering.

Import the decorators from here::

    from portal.enforcement import metered, requires_feature, storage_quota

The engine (``engine.py``) decides and the runtime (``runtime.py``, built by
``Enforcement.from_settings``) counts and meters without any web framework; ``flask.py`` is the
thin Flask layer, loaded only when one of its names is first used, so ``import portal.enforcement``
loads neither Flask nor the portal's web extensions. ``stores/`` hold the counters (in-process
memory, or Redis when REDIS_URL is set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.enforcement.engine import Decision, StorageSnapshot
from portal.enforcement.functions import (
    check_feature_access,
    check_rate_limit,
    check_storage_limit,
    current_usage_snapshot,
    get_overage,
    get_storage_usage,
    get_usage,
    record_api_call,
    record_federation_contribution,
    record_storage_usage,
)
from portal.enforcement.outage import DatabaseUnavailable
from portal.enforcement.overage import OVERAGE_CALLS
from portal.enforcement.runtime import (
    API_CALLS,
    FEDERATION_CONTRIBUTIONS,
    Enforcement,
    OverageStatus,
    current_enforcement,
    endpoint_metric,
)

if TYPE_CHECKING:
    from portal.enforcement.flask import (
        ApiCaller,
        current_caller,
        enforcement_for,
        init_enforcement,
        metered,
        requires_feature,
        storage_quota,
    )

#: The Flask layer's names, resolved from ``portal.enforcement.flask`` on first use.
_FLASK_NAMES = frozenset(
    {
        "ApiCaller",
        "current_caller",
        "enforcement_for",
        "init_enforcement",
        "metered",
        "requires_feature",
        "storage_quota",
    }
)


def __getattr__(name: str) -> Any:
    if name in _FLASK_NAMES:
        from portal.enforcement import flask as adapter

        value = getattr(adapter, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "API_CALLS",
    "FEDERATION_CONTRIBUTIONS",
    "OVERAGE_CALLS",
    "ApiCaller",
    "DatabaseUnavailable",
    "Decision",
    "Enforcement",
    "OverageStatus",
    "StorageSnapshot",
    "check_feature_access",
    "check_rate_limit",
    "check_storage_limit",
    "current_caller",
    "current_enforcement",
    "current_usage_snapshot",
    "endpoint_metric",
    "enforcement_for",
    "get_overage",
    "get_storage_usage",
    "get_usage",
    "init_enforcement",
    "metered",
    "record_api_call",
    "record_federation_contribution",
    "record_storage_usage",
    "requires_feature",
    "storage_quota",
]
