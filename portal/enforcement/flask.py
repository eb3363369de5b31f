"""The Flask layer: ``init_enforcement(app)``, ``@metered``, ``@requires_feature(...)`` and
``@storage_quota``.

Each decorator is a thin translation of the framework-free lifecycle (``lifecycle.py``): read
the request, ask it, render its decision. Put ``@metered`` outermost, with the gates right
beneath it, so every response of the endpoint, 403 and 507 included, carries the rate-limit
headers and the gates' refusals are never counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, overload

from flask import Flask, Response, current_app, has_app_context, jsonify, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from portal import metrics
from portal.enforcement.engine import Decision, StorageSnapshot
from portal.enforcement.lifecycle import (
    ApiCaller,
    Incoming,
    admit,
    feature_refusal,
    identify,
    refused,
    storage_refusal,
)
from portal.enforcement.runtime import Enforcement, register_finder
from portal.enforcement.settings import SETTING_NAMES
from portal.plans import Feature

View = TypeVar("View", bound=Callable[..., Any])
log = logging.getLogger("continuum.enforcement")

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


def current_caller() -> ApiCaller:
    """The authenticated caller of this request (inside a decorated view)."""
    caller: ApiCaller | None = request.environ.get(CALLER_KEY)
    if caller is None:
        raise RuntimeError("current_caller() needs @metered, @requires_feature or @storage_quota")
    return caller


def _identify(enforcement: Enforcement, environ: dict[str, Any]) -> ApiCaller | Decision:
    """The request's caller (once per request, kept in its environ)."""
    caller: ApiCaller | None = environ.get(CALLER_KEY)
    if caller is not None:
        return caller
    found = identify(enforcement, environ.get("HTTP_AUTHORIZATION"), environ.get("HTTP_X_API_KEY"))
    if isinstance(found, ApiCaller):
        environ[CALLER_KEY] = found
    return found


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else request.path


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


def _refused(decision: Decision, started: float) -> Response:
    """A refusal of ``@metered``, rendered and counted in the operator metrics."""
    response = _render(refused(decision, started))
    tier = decision.body.get("tier") if decision.body else None
    metrics.api_call(decision.status, tier, decision.limit, time.perf_counter() - started)
    return response


def _render(decision: Decision) -> Response:
    response = jsonify(decision.body)
    response.status_code = decision.status
    _add_headers(response, decision.headers)
    return response


#: A gate beneath ``@metered``: ("feature", name) or ("storage", incoming).
Gate = tuple[str, Any]


def _peel_gates(view: Callable[..., Any]) -> tuple[list[Gate], Callable[..., Any]]:
    """The gates stacked right beneath ``@metered`` (checked by it, before the admission, so
    their refusals are never counted) and the view under them."""
    gates: list[Gate] = []
    inner = view
    while getattr(inner, "continuum_gate", None) is inner:  # not a wrapper that copied it
        gates.append(inner.continuum_check)  # type: ignore[attr-defined]
        inner = inner.__wrapped__  # type: ignore[attr-defined]
    return gates, inner


def _gate_check(
    enforcement: Enforcement, caller: ApiCaller, gates: list[Gate], route: str
) -> Decision | None:
    for kind, argument in gates:
        if kind == "feature":
            refusal = feature_refusal(enforcement, caller, argument, route)
        else:
            refusal = storage_refusal(enforcement, caller, argument(), route)
        if refusal is not None:
            return refusal
    return None


def metered(view: View) -> View:
    """Authenticate the API key, enforce the tier's limits, meter the call, add the headers.

    The ``@requires_feature`` and ``@storage_quota`` right beneath it are checked first, inline
    (their refusals never count, and one wrapper less per call).
    """
    gates, inner = _peel_gates(view)

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        started = time.perf_counter()
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        enforcement = enforcement_for(app)
        environ = request.environ
        caller = _identify(enforcement, environ)
        if isinstance(caller, Decision):
            return _refused(caller, started)
        route = _route()
        if gates:
            refusal = _gate_check(enforcement, caller, gates, route)
            if refusal is not None:
                return _refused(refusal, started)
        call = admit(enforcement, caller, route, started)
        if isinstance(call, Decision):
            return _refused(call, started)
        admitted = time.perf_counter()
        try:
            try:
                result = inner(*args, **kwargs)
            except HTTPException as error:
                result = app.handle_user_exception(error)
            if not isinstance(result, app.response_class):
                result = app.make_response(result)
        except BaseException:
            # The view raised: Flask answers 500, so the call is refunded (and its slot freed).
            call.finish(500)
            raise
        response: Response = result
        if environ.get(GATE_REFUSED_KEY):  # a gate further down refused it: taken back whole
            headers = call.take_back().headers
        else:
            streamed = response.is_streamed
            headers = call.finish(response.status_code, streamed=streamed)
            if streamed:  # the slot is held, and its lease renewed, until the body ends
                response.response = enforcement.renewing(response.response, caller.id, call.lease)
        _add_headers(response, headers)
        metrics.api_call(response.status_code, caller.tier, None, admitted - started)
        return response

    return wrapper  # type: ignore[return-value]


def _gate_refusal(decision: Decision) -> Response:
    """Render a gate's refusal, and mark the request so an ``@metered`` above takes its
    admission back (a gate not right beneath it runs after the admission)."""
    request.environ[GATE_REFUSED_KEY] = True
    return _render(decision)


def _mark_gate(wrapper: Any, check: Gate) -> None:
    # Other decorators' functools.wraps copy these onto their wrappers too: only the wrapper
    # that ``continuum_gate`` names is this gate.
    wrapper.continuum_check = check
    wrapper.continuum_gate = wrapper


def requires_feature(feature: str) -> Callable[[View], View]:
    """Refuse with 403 unless the caller's tier includes ``feature``."""
    Feature(feature)  # a typo fails at import time, not on the first call

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            enforcement = enforcement_for()
            caller = _identify(enforcement, request.environ)
            if isinstance(caller, Decision):
                return _render(caller)
            refusal = feature_refusal(enforcement, caller, feature, _route())
            return view(*args, **kwargs) if refusal is None else _gate_refusal(refusal)

        _mark_gate(wrapper, ("feature", feature))
        return wrapper  # type: ignore[return-value]

    return decorator


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
            refusal = storage_refusal(enforcement, caller, incoming(), _route())
            return view(*args, **kwargs) if refusal is None else _gate_refusal(refusal)

        _mark_gate(wrapper, ("storage", incoming))
        return wrapper  # type: ignore[return-value]

    return decorator if view is None else decorator(view)
