"""The overage JSON routes, by session (with its CSRF token) or API key, like ``json_api``.

- GET  /v1/billing/overage -> the settings and this period's overage
- PUT  /v1/billing/overage {"enabled": true, "monthly_cap_cents": 2000} -> the same, applied
- POST /v1/billing/report-usage -> {"reported": calls sent now, "pending": calls still waiting}

The settings body is parsed strictly: JSON only, no coercion, and any bad value is a 400 that
names its field (``{"error": ..., "field": ...}``) with nothing changed.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, jsonify, request

from portal.billing import overage
from portal.billing.meter_reporter import report_tenant_now
from portal.billing.views import bp
from portal.billing.views.json_api import request_tenant
from portal.errors import PortalError
from portal.extensions import csrf, limiter
from portal.models import Tenant

_EXAMPLE = '{"enabled": true, "monthly_cap_cents": 2000}'
#: Python's int parser refuses longer digit strings; such a number is no valid cap anyway.
_MAX_INT_DIGITS = 4000


def _json_int(text: str) -> int | float:
    """A JSON integer; one too long to parse arrives as a float, which validation refuses."""
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def _settings_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 saying what to send."""
    if not request.is_json:
        raise PortalError(f"Send the settings as JSON (Content-Type: application/json): {_EXAMPLE}")
    try:
        body = json.loads(request.get_data(cache=True), parse_int=_json_int)
    except RecursionError:
        raise PortalError(f"The JSON body is nested too deeply. Send {_EXAMPLE}") from None
    except ValueError:
        raise PortalError(f"The body is not valid JSON. Send {_EXAMPLE}") from None
    if not isinstance(body, dict):
        raise PortalError(f"The body must be a JSON object like {_EXAMPLE}")
    return body


def overage_json(tenant: Tenant) -> dict[str, Any]:
    settings = overage.current_settings(tenant)
    summary = overage.period_summary(tenant)
    return {
        "tier": tenant.tier,
        "available": overage.is_available(tenant),
        "enabled": settings.enabled,
        "monthly_cap_cents": settings.monthly_cap_cents,
        "period_start": summary.period_start.isoformat(),
        "period_end": summary.period_end.isoformat(),
        "calls": summary.calls,
        "cap_calls": summary.cap_calls,
        "cost_cents": float(summary.cost_cents),
        "projected_cents": float(summary.projected_cents),
    }


@bp.get("/v1/billing/overage")
def get_overage() -> tuple[Response, int]:
    tenant = request_tenant()
    return jsonify(overage_json(tenant)), 200


@bp.put("/v1/billing/overage")
@csrf.exempt
def put_overage() -> tuple[Response, int]:
    tenant = request_tenant()
    overage.check_available(tenant)
    try:
        wanted = overage.parse_settings(_settings_body(), overage.current_settings(tenant))
    except overage.InvalidOverageSetting as error:
        return jsonify(error=error.message, field=error.field), error.status_code
    overage.update_settings(tenant, wanted)
    return jsonify(overage_json(tenant)), 200


@bp.post("/v1/billing/report-usage")
@csrf.exempt
@limiter.limit("30/minute")
def report_usage() -> tuple[Response, int]:
    tenant = request_tenant()
    reported, pending = report_tenant_now(current_app._get_current_object(), tenant.id)  # type: ignore[attr-defined]
    return jsonify(reported=reported, pending=pending), 200
