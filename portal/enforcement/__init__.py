"""Enforcement for the CONTINUUM API: per-tier rate limits, concurrency, features, storage quotas
and durable usage metering.

Import the decorators from here::

    from portal.enforcement import metered, requires_feature, storage_quota

The engine (``engine.py``) decides without any web framework; ``decorators.py`` is the thin
Flask layer; ``stores/`` hold the counters (in-process memory, or Redis when REDIS_URL is set).
"""

from __future__ import annotations

from portal.enforcement.engine import Decision, StorageSnapshot
from portal.enforcement.flask import (
    ApiCaller,
    current_caller,
    metered,
    requires_feature,
    storage_quota,
)
from portal.enforcement.functions import (
    check_feature_access,
    check_rate_limit,
    check_storage_limit,
    current_usage_snapshot,
    get_storage_usage,
    get_usage,
    record_api_call,
    record_federation_contribution,
    record_storage_usage,
)
from portal.enforcement.runtime import (
    API_CALLS,
    FEDERATION_CONTRIBUTIONS,
    Enforcement,
    endpoint_metric,
    enforcement_for,
    init_enforcement,
)

__all__ = [
    "API_CALLS",
    "FEDERATION_CONTRIBUTIONS",
    "ApiCaller",
    "Decision",
    "Enforcement",
    "StorageSnapshot",
    "check_feature_access",
    "check_rate_limit",
    "check_storage_limit",
    "current_caller",
    "current_usage_snapshot",
    "endpoint_metric",
    "enforcement_for",
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
