"""The ASGI layer's admission on the event loop, for the common case: a key and tier this
process knows, feature gates that pass, counters already seeded. Then nothing blocks: the
embedded store counts in memory, and Redis is asked over an asyncio connection (the same script,
``stores/redis_async.py``).
Anything else (a key to look up, a storage gate, a refusal to record, Redis down) goes the
sync way in a worker thread (``asgi._enter``), so the rules stay those of ``lifecycle.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from portal.enforcement.asgi_scope import CALLER_KEY, Scope, key_headers
from portal.enforcement.directory import BEARER
from portal.enforcement.engine import Decision
from portal.enforcement.lifecycle import ApiCaller, Call, admitted, call_metrics
from portal.enforcement.runtime import Enforcement
from portal.enforcement.stores.memory import MemoryStore

log = logging.getLogger("continuum.enforcement")


def cached_caller(enforcement: Enforcement, scope: Scope) -> ApiCaller | None:
    """The caller when this process knows its key and tier fresh (no I/O), else None."""
    caller: ApiCaller | None = scope.get(CALLER_KEY)
    if caller is not None:
        return caller
    authorization, api_key = key_headers(scope)
    if authorization is not None:
        presented = authorization if authorization.startswith(BEARER) else None
    else:
        presented = api_key if api_key and not api_key.startswith(BEARER) else None
    directory = enforcement.directory
    entry = directory.known_key(presented) if presented else None
    policy = directory.cached_policy(entry.tenant_id) if entry is not None else None
    if entry is None or policy is None:
        return None
    caller = ApiCaller(entry.key_id, policy)
    scope[CALLER_KEY] = caller
    return caller


class LoopAdmission:
    """Admits on the loop when it can (``try_admit`` answers None when it cannot)."""

    def __init__(self, enforcement: Enforcement) -> None:
        self.enforcement = enforcement
        store: Any = enforcement.store
        self.memory = store if isinstance(store, MemoryStore) else None
        self.guarded = None
        self.admissions = None
        primary = getattr(store, "primary", None)
        if self.memory is None and primary is not None and hasattr(primary, "prepare"):
            from portal.enforcement.stores.redis_async import AsyncRedisAdmissions, supported

            if supported(primary):
                self.guarded, self.admissions = store, AsyncRedisAdmissions(primary)

    async def try_admit(
        self, scope: Scope, route: str, features: list[str], started: float
    ) -> Call | Decision | None:
        enforcement = self.enforcement
        caller = cached_caller(enforcement, scope)
        if caller is None or not all(caller.limits.has_feature(f) for f in features):
            return None  # a lookup or a refusal to record: the thread's way
        policy = caller.policy
        if self.memory is not None:
            now, overage = enforcement.admission_terms(policy)
            if not self.memory.seeded(policy.tenant_id, now, overage):
                return None
            decision, admission = enforcement.admit(policy, call_metrics(route))
        elif self.admissions is not None and self.guarded.healthy():  # type: ignore[union-attr]
            now, overage = enforcement.admission_terms(policy)
            if not self.admissions.ready(policy.tenant_id, now, overage):
                return None
            try:
                admission = await self.admissions.acquire(
                    policy.tenant_id,
                    policy.quota,
                    now,
                    enforcement.lease_seconds,
                    call_metrics(route),
                    overage,
                )
            except Exception as error:  # the sync path trips the breaker and applies the fail mode
                log.info("enforcement: async admission failed (%s); the sync path decides", error)
                return None
            decision = enforcement.conclude(policy, admission, now, overage)
        else:
            return None
        if admission is None or admission.lease is None:
            return None  # a 429: its outcome is recorded by the sync path, which refuses again
        return admitted(enforcement, caller, route, started, decision, admission)

    async def close(self) -> None:
        if self.admissions is not None:
            await self.admissions.close()
