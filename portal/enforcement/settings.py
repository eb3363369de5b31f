"""Enforcement's settings, read from any mapping: ``os.environ``, a Flask ``app.config``, a dict.

The names are the portal's environment variables, so ``Enforcement.from_settings(os.environ)``
runs on the portal's own configuration. A value that cannot work is refused here, at start-up,
with the setting's name, never on the first call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FAIL_MODES = ("closed", "open")
#: Every name ``Settings.from_mapping`` reads.
SETTING_NAMES = (
    "DATABASE_URL",
    "SQLALCHEMY_DATABASE_URI",
    "SQLALCHEMY_ENGINE_OPTIONS",
    "REDIS_URL",
    "ENFORCEMENT_REDIS_PREFIX",
    "ENFORCEMENT_REDIS_TIMEOUT",
    "ENFORCEMENT_FAIL_MODE",
    "ENFORCEMENT_LEASE_SECONDS",
    "USAGE_FLUSH_SECONDS",
    "API_KEY_LAST_USED_FLUSH_SECONDS",
)


def _default_engine_options() -> dict[str, Any]:
    # A pooled connection a database restart closed is replaced, not failed on.
    return {"pool_pre_ping": True}


@dataclass(frozen=True, slots=True)
class Settings:
    """What one enforcement runtime is configured with (defaults are the portal's)."""

    database_url: str | None = None
    engine_options: Mapping[str, Any] = field(default_factory=_default_engine_options)
    #: Empty: counters in this process (the embedded default); else one Redis for every process.
    redis_url: str = ""
    redis_prefix: str = "continuum:"
    redis_timeout: float = 0.1
    fail_mode: str = "closed"
    lease_seconds: float = 30.0
    usage_flush_seconds: float = 1.0
    last_used_flush_seconds: float = 30.0

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> Settings:
        """Read the names in ``SETTING_NAMES``; absent or empty ones keep their defaults."""
        defaults = cls()
        fail_mode = str(settings.get("ENFORCEMENT_FAIL_MODE") or defaults.fail_mode)
        if fail_mode not in FAIL_MODES:
            raise ValueError(f"ENFORCEMENT_FAIL_MODE must be 'closed' or 'open', not {fail_mode!r}")
        options = settings.get("SQLALCHEMY_ENGINE_OPTIONS")
        return cls(
            database_url=_database_url(settings),
            engine_options=dict(options) if options else defaults.engine_options,
            redis_url=str(settings.get("REDIS_URL") or ""),
            redis_prefix=str(settings.get("ENFORCEMENT_REDIS_PREFIX") or defaults.redis_prefix),
            redis_timeout=_seconds(settings, "ENFORCEMENT_REDIS_TIMEOUT", defaults.redis_timeout),
            fail_mode=fail_mode,
            lease_seconds=_seconds(settings, "ENFORCEMENT_LEASE_SECONDS", defaults.lease_seconds),
            usage_flush_seconds=_seconds(
                settings, "USAGE_FLUSH_SECONDS", defaults.usage_flush_seconds
            ),
            last_used_flush_seconds=_seconds(
                settings, "API_KEY_LAST_USED_FLUSH_SECONDS", defaults.last_used_flush_seconds
            ),
        )


def _database_url(settings: Mapping[str, Any]) -> str | None:
    """DATABASE_URL (the environment's name) or SQLALCHEMY_DATABASE_URI (Flask's); both may
    be given only when they agree, so a mapping never silently picks one of two databases."""
    named = {
        name: str(settings[name])
        for name in ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI")
        if settings.get(name)
    }
    if len(set(named.values())) > 1:
        raise ValueError("DATABASE_URL and SQLALCHEMY_DATABASE_URI name different databases")
    return next(iter(named.values()), None)


def _seconds(settings: Mapping[str, Any], name: str, default: float) -> float:
    raw = settings.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number of seconds above 0, not {raw!r}")
    return value
