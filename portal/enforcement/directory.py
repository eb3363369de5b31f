"""Who is calling: API key -> tenant -> tier and limits, read through the runtime's Engine and
cached in each process.

Entries live at most ``CACHE_SECONDS``, so a tier or overage change made anywhere (a webhook, an
upgrade, a new spend cap, another host, even a raw SQL update) reaches every process within that.
Changes committed through the ORM (to a tenant, its keys or its subscriptions) also drop the
entries at once in this process and bump the tenant's generation in the shared store, which every
other process sees in its next admission reply.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.enforcement.overage import OverageTerms
from portal.enforcement.stores.base import CounterStore, Quota
from portal.keys.raw_keys import hash_key, looks_like_key
from portal.models import ApiKey, Subscription, Tenant
from portal.plans import PricingTier, TierLimits, get_tier_limits

CACHE_SECONDS = 2.0
#: Bounds the key cache; past it the cache starts over (a cheap guard against key spraying).
MAX_CACHED_KEYS = 50_000
UNKNOWN_GENERATION = -1
BEARER = "Bearer "

_ACTIVE_KEY = sa.select(ApiKey.id, ApiKey.tenant_id).where(
    ApiKey.key_hash == sa.bindparam("digest"), ApiKey.revoked_at.is_(None)
)
_TENANT = sa.select(
    Tenant.tier, Tenant.limit_overrides, Tenant.overage_enabled, Tenant.overage_cap_cents
).where(Tenant.id == sa.bindparam("id"))
#: Stripe statuses of a subscription that will never renew (its period names no cap period).
_ENDED = ("canceled", "incomplete_expired", "unpaid")
#: The tenant's live subscription's period: the newest not ended, else the newest.
_PERIOD = (
    sa.select(
        Subscription.usage_period_start,
        Subscription.usage_period_end,
        Subscription.current_period_start,
        Subscription.current_period_end,
    )
    .where(Subscription.tenant_id == sa.bindparam("id"))
    .order_by(
        Subscription.status.in_(_ENDED), Subscription.created_at.desc(), Subscription.id.desc()
    )
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """What enforcement needs to know about one tenant, as of ``expires - CACHE_SECONDS``."""

    tenant_id: int
    tier: str
    limits: TierLimits
    quota: Quota
    generation: int
    expires: float
    #: A Pro tenant's overage settings and period (None on every other tier).
    overage: OverageTerms | None = None


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key_id: int
    tenant_id: int
    expires: float


class Directory:
    """Cached key and tenant lookups against the portal's database.

    Lookups of cached entries take no lock. Entries are added and dropped under ``_lock``, and
    ``_forgets`` counts the drops: an entry read from SQL before a drop it did not see (a
    revocation committed while the read was under way) is used for its own call only, never
    cached, so a revoked key stops at once in this process.
    """

    def __init__(self, store: CounterStore, engine: sa.Engine) -> None:
        self.store = store
        self.engine = engine
        self._lock = threading.Lock()
        self._forgets = 0
        self._keys: dict[str, KeyEntry] = {}
        #: The same entries by the header value they came in (kept no longer than the entry).
        self._presented: dict[str, KeyEntry] = {}
        self._policies: dict[int, TenantPolicy] = {}
        _directories.add(self)

    def known_key(self, presented: str) -> KeyEntry | None:
        """The live entry for a key header value seen before, exactly as sent (no parsing, no
        hashing: the common case of a client sending the same key call after call)."""
        entry = self._presented.get(presented)
        if entry is not None and entry.expires > time.monotonic():
            return entry
        return None

    def key(self, raw: str, presented: str | None = None) -> KeyEntry | None:
        """The active key ``raw`` names, or None (unknown or revoked). ``presented``, the header
        value it came in, is remembered for ``known_key`` when it is the key alone or
        ``Bearer <key>``: other spellings (padding, say) would let one key fill the cache with
        long header values."""
        digest = hash_key(raw)
        entry = self._keys.get(digest)
        now = time.monotonic()
        if entry is None or entry.expires <= now:
            forgets = self._forgets
            found = self._active_key(raw, digest)
            if found is None:
                self._keys.pop(digest, None)
                return None
            entry = KeyEntry(*found, now + CACHE_SECONDS)
            with self._lock:
                if self._forgets != forgets:
                    return entry
                if len(self._keys) >= MAX_CACHED_KEYS:
                    self._keys.clear()
                self._keys[digest] = entry
        if presented is not None and presented in (raw, f"{BEARER}{raw}"):
            with self._lock:
                if self._keys.get(digest) is not entry:
                    return entry  # dropped meanwhile
                if len(self._presented) >= MAX_CACHED_KEYS:
                    self._presented.clear()
                self._presented[presented] = entry
        return entry

    def _active_key(self, raw: str, digest: str) -> tuple[int, int] | None:
        """The id and tenant of the unrevoked key ``raw``; malformed input never reaches SQL."""
        if not looks_like_key(raw):
            return None
        with self.engine.connect() as connection:
            row = connection.execute(_ACTIVE_KEY, {"digest": digest}).one_or_none()
        return None if row is None else (row.id, row.tenant_id)

    def policy(self, tenant_id: int) -> TenantPolicy | None:
        """The tenant's tier and limits, or None when the tenant no longer exists."""
        policy = self._policies.get(tenant_id)
        now = time.monotonic()
        if policy is not None and policy.expires > now:
            return policy
        forgets = self._forgets
        overage = None
        with self.engine.connect() as connection:
            row = connection.execute(_TENANT, {"id": tenant_id}).one_or_none()
            if row is not None and row.tier == PricingTier.PRO.value:
                overage = _overage_terms(
                    row, connection.execute(_PERIOD, {"id": tenant_id}).one_or_none()
                )
        if row is None:
            self.forget(tenant_id)
            return None
        limits = get_tier_limits(row.tier, row.limit_overrides)
        quota = Quota(
            limits.api_calls_per_minute, limits.api_calls_per_day, limits.concurrent_requests
        )
        policy = TenantPolicy(
            tenant_id, row.tier, limits, quota, UNKNOWN_GENERATION, now + CACHE_SECONDS, overage
        )
        with self._lock:
            if self._forgets == forgets:
                self._policies[tenant_id] = policy
        return policy

    def observe_generation(self, tenant_id: int, generation: int) -> None:
        """Compare the store's generation with the cached one; a newer one drops the entry."""
        policy = self._policies.get(tenant_id)
        if policy is None or policy.generation == generation:
            return
        if policy.generation == UNKNOWN_GENERATION:
            with self._lock:
                if self._policies.get(tenant_id) is policy:
                    self._policies[tenant_id] = replace(policy, generation=generation)
        else:
            self.forget(tenant_id)

    def forget(self, tenant_id: int) -> None:
        """Drop this process's cached tier and keys of ``tenant_id``."""
        with self._lock:
            self._forgets += 1
            self._policies.pop(tenant_id, None)
            for entries in (self._keys, self._presented):
                for index, entry in list(entries.items()):
                    if entry.tenant_id == tenant_id:
                        del entries[index]

    def detach(self) -> None:
        """Stop hearing about tenant changes (the runtime is shutting down)."""
        _directories.discard(self)

    def tenant_changed(self, tenant_id: int) -> None:
        """A tenant's tier, limits or keys changed: drop it here and tell other processes."""
        self.forget(tenant_id)
        self.store.bump_generation(tenant_id)


def _overage_terms(tenant: Any, period: Any) -> OverageTerms:
    """A Pro tenant's overage terms; the period is the metered item's, else the subscription's."""
    terms = OverageTerms(bool(tenant.overage_enabled), int(tenant.overage_cap_cents))
    if period is not None:
        start = period.usage_period_start or period.current_period_start
        end = period.usage_period_end or period.current_period_end
        if start is not None and end is not None:
            terms.mirror_start, terms.mirror_end = int(start.timestamp()), int(end.timestamp())
    return terms


_directories: weakref.WeakSet[Directory] = weakref.WeakSet()
_CHANGED = "continuum_enforcement_changed_tenants"


@event.listens_for(Session, "after_flush")
def _collect_changed_tenants(session: Session, flush_context: Any) -> None:
    changed: set[int] = session.info.setdefault(_CHANGED, set())
    for obj in itertools.chain(session.dirty, session.deleted):
        if isinstance(obj, Tenant):  # any column: tier, limits, overage on/off, the spend cap
            changed.add(obj.id)
        elif isinstance(obj, ApiKey | Subscription):
            changed.add(obj.tenant_id)
    for obj in session.new:  # a new subscription brings a new cap period
        if isinstance(obj, Subscription):
            changed.add(obj.tenant_id)


@event.listens_for(Session, "after_commit")
def _announce_changed_tenants(session: Session) -> None:
    for tenant_id in session.info.pop(_CHANGED, ()):
        for directory in list(_directories):
            directory.tenant_changed(tenant_id)


@event.listens_for(Session, "after_soft_rollback")
def _discard_changed_tenants(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_CHANGED, None)
