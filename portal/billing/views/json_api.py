"""The billing JSON routes for the API and other clients, by session or API key.

- POST /v1/billing/create-checkout-session {"interval": "month"|"year"} -> {session_id, url}
- GET  /v1/billing/subscription -> the tenant's tier and subscription state
- POST /v1/billing/cancel-subscription {"at_period_end": true|false} -> the new state

A session-authenticated POST must carry the CSRF token (X-CSRFToken); an API key
(``Authorization: Bearer ck_...``) needs none, since browsers never send it on their own.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_login import current_user

from portal.billing import checkout, plan_changes
from portal.billing.subscriptions import (
    current_subscription,
    on_grace_period,
    on_trial,
    past_due,
    past_due_grace_ends,
    valid,
)
from portal.billing.views import bp
from portal.billing.views.pages import current_tenant
from portal.errors import PortalError
from portal.extensions import csrf, db
from portal.keys.api_keys import find_active_key
from portal.models import Subscription, Tenant
from portal.teams.activity import record_by_member


class NotAuthenticated(PortalError):
    status_code = 401


def request_tenant() -> Tenant:
    """The tenant of the API key in the Authorization header, or of the signed-in user."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        api_key = find_active_key(raw.strip()) if scheme.lower() == "bearer" else None
        tenant = db.session.get(Tenant, api_key.tenant_id) if api_key else None
        if tenant is None:
            raise NotAuthenticated("That API key is not valid or has been revoked.")
        return tenant
    if current_user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        return current_tenant()
    raise NotAuthenticated("Sign in, or send an API key as 'Authorization: Bearer ck_...'.")


def _body() -> dict[str, Any]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise PortalError("The request body must be a JSON object.")
        return body
    return request.form.to_dict()


def _text(body: dict[str, Any], *names: str, default: str) -> str:
    """The first of ``names`` present in ``body`` as a string; any other type is a 400."""
    for name in names:
        value = body.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise PortalError(f"'{name}' must be a string, e.g. \"{default}\".")
        return value
    return default


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    """A yes/no field sent as a JSON boolean or as a form's text; anything else is a 400."""
    value = body.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise PortalError(f"'{name}' must be true or false.")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def subscription_json(tenant: Tenant, sub: Subscription | None) -> dict[str, Any]:
    state: dict[str, Any] = {"tier": tenant.tier, "subscription": None}
    if sub is None:
        return state
    state["subscription"] = {
        "id": sub.stripe_subscription_id,
        "status": sub.status,
        "tier": sub.tier,
        "interval": sub.interval,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "current_period_start": _iso(sub.current_period_start),
        "current_period_end": _iso(sub.current_period_end),
        "trial_end": _iso(sub.trial_end),
        "canceled_at": _iso(sub.canceled_at),
        "on_trial": on_trial(sub),
        "on_grace_period": on_grace_period(sub),
        "past_due": past_due(sub),
        "past_due_grace_ends": _iso(past_due_grace_ends(sub)),
        "valid": valid(sub),
    }
    return state


@bp.post("/v1/billing/create-checkout-session")
@csrf.exempt
def create_checkout_session() -> tuple[Response, int]:
    tenant = request_tenant()
    body = _body()
    tier = _text(body, "tier", "plan", default="pro").lower()
    if tier != "pro":
        raise PortalError("Only Pro is self-serve. Enterprise is arranged with our sales team.")
    started = checkout.start_upgrade(tenant, _text(body, "interval", default="month"))
    return jsonify(session_id=started.session_id, url=started.url), 200


@bp.get("/v1/billing/subscription")
def subscription() -> tuple[Response, int]:
    tenant = request_tenant()
    return jsonify(subscription_json(tenant, current_subscription(tenant))), 200


@bp.post("/v1/billing/cancel-subscription")
@csrf.exempt
def cancel_subscription() -> tuple[Response, int]:
    tenant = request_tenant()
    at_period_end = _flag(_body(), "at_period_end", default=True)
    if at_period_end:
        result = plan_changes.cancel_at_period_end(tenant)
    else:
        result = plan_changes.cancel_now(tenant)
    if not request.headers.get("Authorization"):
        record_by_member(
            "plan_changed", "cancellation at period end" if at_period_end else "cancelled now"
        )
    return jsonify(subscription_json(tenant, result.subscription)), 200
