"""The ``/v1`` request pipeline: API key, strict params, idempotency, expansion, JSON out."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, request

from stripe_sim import objects
from stripe_sim.context import Sim, current_sim
from stripe_sim.errors import StripeError, missing_param, not_simulated, resource_missing
from stripe_sim.forms import decode
from stripe_sim.params import check
from stripe_sim.simtime import new_id
from stripe_sim.store import Store

bp = Blueprint("stripe_sim_api", __name__)

View = Callable[..., Any]


def endpoint(method: str, rule: str, params_type: type,
             supports: frozenset[str] | set[str] = frozenset()) -> Callable[[View], View]:
    """Register a Stripe API view taking ``(sim, params, **path_args)``.

    ``supports`` lists the top-level parameters the simulator implements; others that the SDK
    knows are refused with a message rather than silently ignored.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def handle(**path_args: Any) -> Response:
            sim = current_sim()
            g.request_id = new_id("req", 14)
            try:
                authenticate(sim)
                pairs = request.form.items(multi=True) if method == "POST" else \
                    request.args.items(multi=True)
                params = check(params_type, decode(pairs))
                simulated_only(params, {*supports, "expand"})
            except StripeError as error:
                return json_response(error.body(), error.status)
            return _run(sim, view, params, path_args, method)

        bp.add_url_rule(rule, view.__name__, handle, methods=[method])
        return handle

    return decorate


def _run(sim: Sim, view: View, params: dict[str, Any], path_args: dict[str, Any],
         method: str) -> Response:
    key = request.headers.get("Idempotency-Key") if method == "POST" else None
    fingerprint = json.dumps([request.method, request.path, params], sort_keys=True, default=str)
    g.stripe_request = {"id": g.request_id, "idempotency_key": key}
    try:
        with sim.store.transaction() as store:
            replay = _replay(store, key, fingerprint) if key else None
            if replay is not None:
                return replay
            try:
                result = view(sim, params, **path_args)
                body = expand(sim, objects.public(result), params.get("expand", []))
                status = 200
            except StripeError as error:
                if error.rollback:
                    raise
                body, status = error.body(), error.status
            if key:
                store.execute(
                    "INSERT INTO idempotency (key, fingerprint, status, body) VALUES (?, ?, ?, ?)",
                    (key, fingerprint, status, json.dumps(body)),
                )
    except StripeError as error:
        body, status = error.body(), error.status
    return json_response(body, status)


def _replay(store: Store, key: str, fingerprint: str) -> Response | None:
    """The stored answer for a repeated Idempotency-Key (or Stripe's error for a reused key)."""
    row = store.execute(
        "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    if row["fingerprint"] != fingerprint:
        error = StripeError(
            "Keys for idempotent requests can only be used with the same parameters they were "
            "first used with.", type="idempotency_error")
        return json_response(error.body(), error.status)
    response = json_response(json.loads(row["body"]), row["status"])
    response.headers["Idempotent-Replayed"] = "true"
    return response


def json_response(body: Any, status: int = 200) -> Response:
    response = Response(json.dumps(body, indent=2), status, mimetype="application/json")
    response.headers["Request-Id"] = g.get("request_id", "")
    return response


def authenticate(sim: Sim) -> None:
    """Accept the configured secret key as a Bearer token or as the Basic-auth user."""
    header = request.headers.get("Authorization", "")
    key = ""
    if header.startswith("Bearer "):
        key = header[len("Bearer "):].strip()
    elif header.startswith("Basic "):
        try:
            key = base64.b64decode(header[len("Basic "):]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            status=401,
        )
    if not hmac.compare_digest(key.encode(), sim.api_key.encode()):
        raise StripeError(f"Invalid API Key provided: {key[:8]}{'*' * 8}{key[-4:]}", status=401,
                          code="api_key_invalid")


def expand(sim: Sim, obj: Any, paths: list[str]) -> Any:
    """Replace id strings named by Stripe ``expand`` paths with the objects they name."""
    for path in paths:
        parts = path.split(".")
        if len(parts) > 4:
            raise StripeError(f"You cannot expand more than 4 levels of a property: {path}",
                              param="expand")
        _expand(sim, obj, parts, path)
    return obj


def _expand(sim: Sim, node: Any, parts: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(sim, item, parts, path)
        return
    head, rest = parts[0], parts[1:]
    if not isinstance(node, dict) or head not in node:
        raise StripeError(f"This property cannot be expanded ({path}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        target = sim.store.get(value)
        if target is None or head == "id":
            raise StripeError(f"This property cannot be expanded ({path}).", param="expand")
        value = node[head] = objects.public(target)
    if rest and value is not None:
        _expand(sim, value, rest, path)


def paginate(items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """A Stripe list page (newest first) honouring limit, starting_after and ending_before."""
    limit = params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise StripeError("Invalid limit: must be between 1 and 100", param="limit")
    ids = [item["id"] for item in items]
    if "starting_after" in params:
        cursor = params["starting_after"]
        start = ids.index(cursor) + 1 if cursor in ids else len(ids)
        page = items[start:start + limit]
        has_more = start + limit < len(items)
    elif "ending_before" in params:
        cursor = params["ending_before"]
        end = ids.index(cursor) if cursor in ids else 0
        page = items[max(end - limit, 0):end]
        has_more = end - limit > 0
    else:
        page, has_more = items[:limit], len(items) > limit
    return objects.list_object(page, url, has_more)


def simulated_only(params: dict[str, Any], supported: set[str] | frozenset[str],
                   where: str = "") -> None:
    """Refuse parameters Stripe knows but the simulator does not implement."""
    for name in sorted(set(params) - set(supported)):
        raise not_simulated(f"{where}[{name}]" if where else name)


def required(params: dict[str, Any], name: str) -> Any:
    """A parameter the SDK types leave optional but this endpoint needs, as Stripe does."""
    if params.get(name) in (None, "", []):
        raise missing_param(name)
    return params[name]


def load(sim: Sim, kind: str, object_id: str, label: str | None = None,
         param: str = "id") -> dict[str, Any]:
    """The stored object or Stripe's 404 ``resource_missing``."""
    obj = sim.store.get(object_id, kind)
    if obj is None:
        raise resource_missing(label or kind, object_id, param)
    return obj
