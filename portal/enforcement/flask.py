"""The Flask layer: ``init_enforcement(app)``, ``@metered``, ``@requires_feature(...)`` and
``@storage_quota``.

Each decorator is a thin wrapper: read the request, ask the engine, render its decision. Put
``@metered`` outermost so every response of the endpoint, 403 and 507 included, carries the
rate-limit headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any, TypeVar, overload

from flask import Flask, Response, current_app, has_app_context, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from portal import metrics
from portal.enforcement.directory import BEARER, TenantPolicy
from portal.enforcement.engine import (
    Decision,
    StorageSnapshot,
    decide_feature,
    decide_storage,
    unauthorized,
    unavailable,
)
from portal.enforcement.runtime import API_CALLS, Enforcement, endpoint_metric, register_finder
from portal.enforcement.settings import SETTING_NAMES
from portal.keys.raw_keys import looks_like_key
from portal.plans import Feature, TierLimits

View = TypeVar("View", bound=Callable[..., Any])
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
#: Where the request's caller is kept: the WSGI environ lives exactly as long as the request.
CALLER_KEY = "continuum.caller"
#: Set when one of our gates (a feature, the storage quota) refused the request: ``@metered``
#: then takes its admission back, so the refusal is neither counted nor billed.
GATE_REFUSED_KEY = "continuum.gate_refused"
EXTENSION = "continuum_enforcement"


def init_enforcement(app: Flask, *, share_with: Enforcement | None = None) -> Enforcement:
    """Bind enforcement to ``app``: a runtime built from its config, or ``share_with`` another
    app's (one process serving the portal and the API shares one set of counters).

    Settings the app does not set come from the portal's environment (``Config``), so an API
    app that sets nothing uses the portal's database and Redis. An app with Flask-SQLAlchemy
    (the portal) lends the runtime its Engine; any other gets an Engine of its own.
    """
    from portal.config import Config

    defaults = Config().as_dict()
    for name in SETTING_NAMES:
        if name in defaults:
            app.config.setdefault(name, defaults[name])
    enforcement = share_with
    if enforcement is None:
        sqlalchemy = app.extensions.get("sqlalchemy")
        if sqlalchemy is not None:
            with app.app_context():
                enforcement = Enforcement.from_settings(app.config, engine=sqlalchemy.engine)
        else:
            enforcement = Enforcement.from_settings(app.config)
    app.extensions[EXTENSION] = enforcement
    return enforcement


def enforcement_for(app: Flask | None = None) -> Enforcement:
    """The runtime bound to ``app`` (default: the current app)."""
    target = app or current_app
    try:
        enforcement: Enforcement = target.extensions[EXTENSION]
    except KeyError:
        raise RuntimeError(
            "Enforcement is not set up on this app: call init_enforcement(app) first."
        ) from None
    return enforcement


def _current_app_runtime() -> Enforcement | None:
    if not has_app_context():
        return None
    found: Enforcement | None = current_app.extensions.get(EXTENSION)
    return found


register_finder(_current_app_runtime)


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


def current_caller() -> ApiCaller:
    """The authenticated caller of this request (inside a decorated view)."""
    caller: ApiCaller | None = request.environ.get(CALLER_KEY)
    if caller is None:
        raise RuntimeError("current_caller() needs @metered, @requires_feature or @storage_quota")
    return caller


def _presented_key(environ: dict[str, Any]) -> str | Decision:
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized(BAD_AUTHORIZATION)
        raw = token.strip()
    else:
        header = environ.get("HTTP_X_API_KEY")
        if header is None or not header.strip():
            return unauthorized(MISSING_KEY)
        raw = header.strip()
    return raw if looks_like_key(raw) else unauthorized(MALFORMED_KEY)


def _cacheable_spelling(environ: dict[str, Any]) -> str | None:
    """The key header's value when it is spelt as its header requires (``Bearer <key>`` in
    Authorization, the bare key in X-API-Key), so a cached key never lets a wrong spelling in."""
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization is not None:
        return authorization if authorization.startswith(BEARER) else None
    header: str | None = environ.get("HTTP_X_API_KEY")
    return header if header and not header.startswith(BEARER) else None


def _database_unreachable(error: DBAPIError) -> Decision:
    """Keys, tiers, day counts and storage live in SQL: without it, a 503 to retry, not a 500."""
    log.warning("enforcement: the database is unreachable (%s); answering 503", error.orig)
    return unavailable(DATABASE_UNAVAILABLE)


def _identify(enforcement: Enforcement, environ: dict[str, Any]) -> ApiCaller | Decision:
    """The caller by API key, never by anything else the client says (once per request)."""
    caller: ApiCaller | None = environ.get(CALLER_KEY)
    if caller is not None:
        return caller
    directory = enforcement.directory
    presented = _cacheable_spelling(environ)
    try:
        entry = directory.known_key(presented) if presented else None
        if entry is None:
            raw = _presented_key(environ)
            if isinstance(raw, Decision):
                return raw
            entry = directory.key(raw, presented)
        policy = directory.policy(entry.tenant_id) if entry is not None else None
    except DBAPIError as error:
        return _database_unreachable(error)
    if entry is None or policy is None:
        return unauthorized(UNKNOWN_KEY)
    caller = ApiCaller(entry.key_id, policy)
    environ[CALLER_KEY] = caller
    return caller


#: Werkzeug keeps a Headers' items in a plain list; when it still does, appending to it skips the
#: per-value check for line breaks (most of what ``Headers.extend`` costs on every call). Our
#: values are ASCII built from numbers and catalog tier names, so that check has nothing to find.
#: Any other Werkzeug takes the public, checked path instead of failing.
_RAW_HEADER_LIST = isinstance(getattr(Headers(), "_list", None), list)


def _add_headers(response: Response, headers: dict[str, str]) -> None:
    """Append the engine's headers to ``response``."""
    if _RAW_HEADER_LIST:
        response.headers._list.extend(headers.items())  # type: ignore[attr-defined]
    else:
        response.headers.extend(headers)


def _render(decision: Decision) -> Response:
    response = jsonify(decision.body)
    response.status_code = decision.status
    _add_headers(response, decision.headers)
    return response


@lru_cache(maxsize=1024)
def _call_metrics(route: str) -> tuple[str, str]:
    return API_CALLS, endpoint_metric(route)


def _duration_ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.2f}"


def _refused(decision: Decision, started: float) -> Response:
    decision.headers["X-Request-Duration-Ms"] = _duration_ms(started)
    response = _render(decision)
    tier = decision.body.get("tier") if decision.body else None
    metrics.api_call(decision.status, tier, decision.limit, time.perf_counter() - started)
    return response


def metered(view: View) -> View:
    """Authenticate the API key, enforce the tier's limits, meter the call, add the headers.

    A ``@requires_feature`` right beneath it is checked inline (one wrapper less per call).
    """
    feature: str | None = None
    inner: Callable[..., Any] = view
    if getattr(view, "continuum_gate", None) is view:  # not a wrapper that copied its attributes
        feature, inner = view.continuum_feature, view.__wrapped__  # type: ignore[attr-defined]

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        started = time.perf_counter()
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        enforcement = enforcement_for(app)
        environ = request.environ
        caller = _identify(enforcement, environ)
        if isinstance(caller, Decision):
            return _refused(caller, started)
        rule = request.url_rule
        route = rule.rule if rule is not None else request.path
        try:
            decision, admission = enforcement.admit(caller.policy, _call_metrics(route))
        except DBAPIError as error:  # the first call of a day reads the day's count from SQL
            return _refused(_database_unreachable(error), started)
        if admission is None or admission.lease is None:
            return _refused(decision, started)
        admitted = time.perf_counter()
        tenant_id, lease = caller.id, admission.lease
        try:
            enforcement.note_key_used(caller.key_id)
            try:
                refusal = _feature_refusal(caller, feature) if feature is not None else None
                result = refusal if refusal is not None else inner(*args, **kwargs)
            except HTTPException as error:
                result = app.handle_user_exception(error)
            if not isinstance(result, app.response_class):
                result = app.make_response(result)
        except BaseException:
            enforcement.release(tenant_id, lease)
            raise
        response: Response = result
        if environ.get(GATE_REFUSED_KEY):
            # Our own gate refused it: taken back whole (its slot too), never counted or billed.
            decision = enforcement.refund(caller.policy, admission)
        elif response.is_streamed:  # the slot is held, and its lease renewed, until it ends
            response.response = enforcement.renewing(response.response, tenant_id, lease)
        else:
            enforcement.release(tenant_id, lease)
        decision.headers["X-Request-Duration-Ms"] = _duration_ms(started)
        _add_headers(response, decision.headers)
        metrics.api_call(response.status_code, caller.tier, None, admitted - started)
        return response

    return wrapper  # type: ignore[return-value]


def _gate_refusal(decision: Decision) -> Response:
    """Render a gate's refusal, and mark the request so ``@metered`` does not count it."""
    request.environ[GATE_REFUSED_KEY] = True
    return _render(decision)


def _feature_refusal(caller: ApiCaller, feature: str) -> Response | None:
    if caller.limits.has_feature(feature):
        return None
    return _gate_refusal(decide_feature(caller.tier, feature))


def requires_feature(feature: str) -> Callable[[View], View]:
    """Refuse with 403 unless the caller's tier includes ``feature``."""
    Feature(feature)  # a typo fails at import time, not on the first call

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = _identify(enforcement_for(), request.environ)
            if isinstance(caller, Decision):
                return _render(caller)
            return _feature_refusal(caller, feature) or view(*args, **kwargs)

        # Other decorators' functools.wraps copy these two onto their wrappers too: only the
        # wrapper that ``continuum_gate`` names is this gate.
        wrapper.continuum_feature = feature  # type: ignore[attr-defined]
        wrapper.continuum_gate = wrapper  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


#: Tells ``@storage_quota`` what the request will add, or None when that is unknown.
Incoming = Callable[[], StorageSnapshot | None]


def declared_by_content_length() -> StorageSnapshot | None:
    """The default ``incoming``: the request body's bytes, when the client declared them."""
    length = request.content_length
    return StorageSnapshot(bytes_used=length) if length else None


@overload
def storage_quota(view: View) -> View: ...


@overload
def storage_quota(*, incoming: Incoming) -> Callable[[View], View]: ...


def storage_quota(
    view: View | None = None, *, incoming: Incoming = declared_by_content_length
) -> View | Callable[[View], View]:
    """Refuse a write with 507 when the tenant's memories or bytes are at the tier's limit, or
    when what it adds would cross it: ``incoming()``, by default the body's Content-Length.

    Use it bare (``@storage_quota``) or say what a write adds
    (``@storage_quota(incoming=lambda: StorageSnapshot(memories=1, bytes_used=...))``).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            enforcement = enforcement_for()
            caller = _identify(enforcement, request.environ)
            if isinstance(caller, Decision):
                return _render(caller)
            try:
                usage = enforcement.storage.read(caller.id)
            except DBAPIError as error:
                return _render(_database_unreachable(error))
            decision = decide_storage(caller.tier, caller.limits, usage, incoming())
            if not decision.allowed:
                return _gate_refusal(decision)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator if view is None else decorator(view)
