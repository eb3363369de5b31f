"""The operator console's blueprint, under /admin.

Every request to it passes ``_staff_only`` first, so no route can be reached by anyone but staff
(the authorization test walks the URL map to prove it): everyone else gets the site's plain 404.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, Response, abort, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.admin.access import current_staff, second_factor_done
from portal.admin.audit import Actor
from portal.admin.tables import money, percent
from portal.plans import TIER_LIMITS, PricingTier

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Reachable by staff before the second factor (it is where they pass it).
BEFORE_SECOND_FACTOR = frozenset({"admin.second_factor"})
#: What a staff member without a tenant of their own may open outside the console.
STAFF_ELSEWHERE = frozenset({"static", "auth.logout", "auth.login", "metrics"})
#: Endpoint prefixes never redirected: the console itself, and Stripe's webhooks (no person).
STAFF_NEVER_SENT = ("admin.", "webhooks.")


@bp.before_request
def _staff_only() -> BaseResponse | None:
    staff = current_staff()
    if staff is None:
        abort(404)
    if request.endpoint not in BEFORE_SECOND_FACTOR and not second_factor_done(staff):
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("admin.second_factor", next=target))
    return None


@bp.after_request
def _private(response: Response) -> Response:
    """Console pages hold customer data: no cache, shared or private, may keep them."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_app_request
def _staff_without_tenant_to_console() -> BaseResponse | None:
    """Staff accounts have no tenant: the tenant pages would have nothing to show them."""
    endpoint = request.endpoint
    if endpoint is None or endpoint.startswith(STAFF_NEVER_SENT) or endpoint in STAFF_ELSEWHERE:
        return None  # decided without loading the signed-in person (Stripe's deliveries)
    staff = current_staff()
    if staff is None or staff.memberships:
        return None
    return redirect(url_for("admin.index"))


def staff_actor() -> Actor:
    """The staff member acting in this request (the blueprint lets only staff in)."""
    staff = current_staff()
    assert staff is not None
    return Actor.staff(staff)


@bp.app_template_filter("cents_money")
def _cents_money(value: Decimal | int) -> str:
    return money(value)


@bp.app_template_filter("percent")
def _percent(value: Decimal | float | None) -> str:
    return percent(value)


@bp.app_template_filter("enterprise_default")
def _enterprise_default(limit: str) -> int:
    value: int = getattr(TIER_LIMITS[PricingTier.ENTERPRISE], limit)
    return value


from portal.admin.views import account, analytics, inquiries, tenants  # noqa: E402,F401  (routes)
