"""One API call's life, with no web framework: identify the key, check the plan's feature and
the storage quota, admit (the one atomic admission), and finish (release or renew the lease,
headers, duration, outcome).

The Flask decorators (``flask.py``) and the ASGI middlewares and dependencies (``asgi.py``) are
thin translations of these functions, so both enforce exactly the same rules:

- our own refusals (401, 403, 507, 429) never count against the minute or day quota and are
  never billed: the feature and storage gates run before the admission;
- a handler's 5xx is refunded from the quota (it is our failure, not the caller's call);
- each call's outcome is counted per endpoint and UTC day in ``usage_counter`` (see
  ``outcome_metric``).

Every function here may do blocking I/O (SQL, Redis): an async adapter runs them off its loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy.exc import DBAPIError

from portal.enforcement.directory import BEARER, TenantPolicy
from portal.enforcement.engine import (
    Admission,
    Decision,
    StorageSnapshot,
    decide_feature,
    decide_rate,
    decide_storage,
    unauthorized,
    unavailable,
)
from portal.enforcement.runtime import API_CALLS, METRIC_MAX_LENGTH, Enforcement, endpoint_metric
from portal.enforcement.stores.base import StoreUnavailable
from portal.keys.raw_keys import looks_like_key
from portal.plans import TierLimits

log = logging.getLogger("continuum.enforcement")

MISSING_KEY = (
    "An API key is required: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
)
BAD_AUTHORIZATION = "The Authorization header must be 'Bearer <API key>'."
MALFORMED_KEY = (
    "That is not a CONTINUUM API key: keys start with ck_live_ or ck_test_ followed by "
    "43 letters, digits, '-' or '_'."
)
UNKNOWN_KEY = "This API key is unknown or has been revoked. Create a new one in the portal."
DATABASE_UNAVAILABLE = (
    "Your API key and limits cannot be checked right now (the database is unreachable), so the "
    "call was not run. Please retry in a few seconds."
)

#: The outcomes counted per endpoint and day (``outcome_metric``). ``succeeded`` is not written
#: per call: it is the endpoint's admitted calls (``api_calls:<route>``, which keeps only calls
#: that ran and were not refunded) minus its client errors, so a successful call costs no
#: extra store write. ``endpoint_outcomes`` gives all six.
SUCCEEDED = "succeeded"
CLIENT_ERROR = "client_error"
SERVER_ERROR = "server_error"
REFUSED_RATE_LIMIT = "refused_rate_limit"
REFUSED_PLAN = "refused_plan"
REFUSED_STORAGE = "refused_storage"
OUTCOMES = (
    SUCCEEDED,
    CLIENT_ERROR,
    SERVER_ERROR,
    REFUSED_RATE_LIMIT,
    REFUSED_PLAN,
    REFUSED_STORAGE,
)
OUTCOME_PREFIX = "outcome:"


def outcome_metric(kind: str, route: str) -> str:
    """The ``usage_counter`` metric of one outcome of one endpoint, e.g.
    ``outcome:server_error:/api/memories``."""
    return f"{OUTCOME_PREFIX}{kind}:{route}"[:METRIC_MAX_LENGTH]


@dataclass(slots=True)
class ApiCaller:
    """The tenant behind the request's API key (``id`` is the tenant id)."""

    key_id: int
    policy: TenantPolicy

    @property
    def id(self) -> int:
        return self.policy.tenant_id

    @property
    def tier(self) -> str:
        return self.policy.tier

    @property
    def limits(self) -> TierLimits:
        return self.policy.limits


def _presented_key(authorization: str | None, api_key: str | None) -> str | Decision:
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized(BAD_AUTHORIZATION)
        raw = token.strip()
    else:
        if api_key is None or not api_key.strip():
            return unauthorized(MISSING_KEY)
        raw = api_key.strip()
    return raw if looks_like_key(raw) else unauthorized(MALFORMED_KEY)


def _cacheable_spelling(authorization: str | None, api_key: str | None) -> str | None:
    """The key header's value when it is spelt as its header requires (``Bearer <key>`` in
    Authorization, the bare key in X-API-Key), so a cached key never lets a wrong spelling in."""
    if authorization is not None:
        return authorization if authorization.startswith(BEARER) else None
    return api_key if api_key and not api_key.startswith(BEARER) else None


def database_unreachable(error: DBAPIError) -> Decision:
    """Keys, tiers, day counts and storage live in SQL: without it, a 503 to retry, not a 500."""
    log.warning("enforcement: the database is unreachable (%s); answering 503", error.orig)
    return unavailable(DATABASE_UNAVAILABLE)


def identify(
    enforcement: Enforcement, authorization: str | None, api_key: str | None
) -> ApiCaller | Decision:
    """The caller by API key (the Authorization and X-API-Key headers' values), never by
    anything else the client says; a 401 (or a 503 without the database) otherwise."""
    directory = enforcement.directory
    presented = _cacheable_spelling(authorization, api_key)
    try:
        entry = directory.known_key(presented) if presented else None
        if entry is None:
            raw = _presented_key(authorization, api_key)
            if isinstance(raw, Decision):
                return raw
            entry = directory.key(raw, presented)
        policy = directory.policy(entry.tenant_id) if entry is not None else None
    except DBAPIError as error:
        return database_unreachable(error)
    if entry is None or policy is None:
        return unauthorized(UNKNOWN_KEY)
    return ApiCaller(entry.key_id, policy)


def record_outcome(enforcement: Enforcement, tenant_id: int, kind: str, route: str) -> None:
    """Count one outcome; a store that cannot take it loses only this statistic, not the call."""
    try:
        enforcement.add_usage(tenant_id, outcome_metric(kind, route), 1)
    except StoreUnavailable:
        log.info("enforcement: outcome %s of %s not counted (store unreachable)", kind, route)


def _with_rate_headers(enforcement: Enforcement, caller: ApiCaller, refusal: Decision) -> Decision:
    """A gate's refusal with the rate headers of the counts as they stand (nothing counted)."""
    policy = caller.policy
    now = enforcement.clock()
    try:
        live = enforcement.live_counts(policy.tenant_id)
    except StoreUnavailable:
        return refusal
    standing = Admission(None, live.minute, live.day, live.concurrent)
    refusal.headers.update(decide_rate(policy.tier, policy.limits, standing, now).headers)
    return refusal


def feature_refusal(
    enforcement: Enforcement, caller: ApiCaller, feature: str, route: str
) -> Decision | None:
    """None when the caller's tier has ``feature``; else the 403 (counted as refused_plan)."""
    if caller.limits.has_feature(feature):
        return None
    record_outcome(enforcement, caller.id, REFUSED_PLAN, route)
    return _with_rate_headers(enforcement, caller, decide_feature(caller.tier, feature))


def storage_refusal(
    enforcement: Enforcement, caller: ApiCaller, incoming: StorageSnapshot | None, route: str
) -> Decision | None:
    """None when the write fits the storage quota; else the 507 (counted as refused_storage).
    Reads the tenant's storage from SQL."""
    try:
        usage = enforcement.storage.read(caller.id)
    except DBAPIError as error:
        return database_unreachable(error)
    decision = decide_storage(caller.tier, caller.limits, usage, incoming)
    if decision.allowed:
        return None
    record_outcome(enforcement, caller.id, REFUSED_STORAGE, route)
    return _with_rate_headers(enforcement, caller, decision)


@lru_cache(maxsize=1024)
def call_metrics(route: str) -> tuple[str, str]:
    return API_CALLS, endpoint_metric(route)


def duration_ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.2f}"


def refused(decision: Decision, started: float) -> Decision:
    """A refusal on its way out: its duration header added."""
    decision.headers["X-Request-Duration-Ms"] = duration_ms(started)
    return decision


@dataclass(slots=True)
class Call:
    """An admitted call: it holds its lease until ``finish`` (or, streamed, ``release``)."""

    enforcement: Enforcement
    caller: ApiCaller
    route: str
    decision: Decision
    admission: Admission
    started: float
    finished: bool = field(default=False)

    @property
    def lease(self) -> str:
        return self.admission.lease or ""

    def finish(self, status: int, *, streamed: bool = False) -> dict[str, str]:
        """The handler answered ``status``: a 5xx is refunded whole (slot included), anything
        else keeps its count; a streamed answer keeps its slot until ``release``. Returns the
        headers to add to the response."""
        enforcement, caller = self.enforcement, self.caller
        decision = self.decision
        if status >= 500:
            decision = enforcement.refund(caller.policy, self.admission)
            record_outcome(enforcement, caller.id, SERVER_ERROR, self.route)
            self.finished = True
        else:
            if status >= 400:
                record_outcome(enforcement, caller.id, CLIENT_ERROR, self.route)
            if not streamed:
                self.release()
        decision.headers["X-Request-Duration-Ms"] = duration_ms(self.started)
        return decision.headers

    def take_back(self) -> Decision:
        """A gate of ours refused the call after its admission: taken back whole, never counted
        or billed; returns the rate decision as if it had not been made."""
        self.finished = True
        decision = self.enforcement.refund(self.caller.policy, self.admission)
        decision.headers["X-Request-Duration-Ms"] = duration_ms(self.started)
        return decision

    def renew(self) -> None:
        enforcement = self.enforcement
        enforcement.store.renew(
            self.caller.id, self.lease, enforcement.clock(), enforcement.lease_seconds
        )

    def release(self) -> None:
        """Give the slot back (once)."""
        if not self.finished:
            self.finished = True
            self.enforcement.release(self.caller.id, self.lease)


def admit(
    enforcement: Enforcement, caller: ApiCaller, route: str, started: float
) -> Call | Decision:
    """The one atomic admission (minute, day or overage cap, concurrency): a ``Call`` holding
    its lease, or the refusal (a 429 counted as refused_rate_limit, or a 503)."""
    try:
        decision, admission = enforcement.admit(caller.policy, call_metrics(route))
    except DBAPIError as error:  # the first call of a day reads the day's count from SQL
        return refused(database_unreachable(error), started)
    return admitted(enforcement, caller, route, started, decision, admission)


def admitted(
    enforcement: Enforcement,
    caller: ApiCaller,
    route: str,
    started: float,
    decision: Decision,
    admission: Admission | None,
) -> Call | Decision:
    """What an admission's answer makes of the call (an async adapter's admission too)."""
    if admission is None or admission.lease is None:
        if decision.status == 429:
            record_outcome(enforcement, caller.id, REFUSED_RATE_LIMIT, route)
        return refused(decision, started)
    try:
        enforcement.note_key_used(caller.key_id)
    except BaseException:
        enforcement.release(caller.id, admission.lease)
        raise
    return Call(enforcement, caller, route, decision, admission, started)


#: What a write will add to storage, or None when unknown (the gates' ``incoming``).
Incoming = Callable[[], StorageSnapshot | None]


def endpoint_outcomes(
    enforcement: Enforcement, tenant_id: int, route: str, first_day: int, last_day: int
) -> dict[str, int]:
    """Each outcome's calls of ``route`` over UTC days ``first_day..last_day`` (flushed plus
    pending), for the usage page and the operator analytics."""
    counts = {
        kind: enforcement.usage(tenant_id, outcome_metric(kind, route), first_day, last_day)
        for kind in OUTCOMES
        if kind != SUCCEEDED
    }
    admitted = enforcement.usage(tenant_id, endpoint_metric(route), first_day, last_day)
    counts[SUCCEEDED] = max(0, admitted - counts[CLIENT_ERROR])
    return counts
