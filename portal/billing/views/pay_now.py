"""Paying the open invoice now, from the billing page: the "Pay $278.40 now with Visa •••• 4242"
button, and a past-due tenant's card choice (make a saved card the default, or come back from
adding one), which pays at once with that card. The domain is ``portal.billing.past_due``.

The answer is the whole billing page (an htmx request gets it retargeted to ``<body>``), so
the plan, the cards and the past-due banner all change in this one response.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.billing.past_due import awaiting_payment, pay_open_invoice
from portal.billing.payment_methods import set_default_payment_method
from portal.billing.views import bp
from portal.billing.views.pages import current_tenant, details_for, render_billing
from portal.billing.views.view_models import describe_subscription
from portal.errors import NotFound, PortalError
from portal.web.layout import is_component_request

ActionResult = Response | tuple[str, int]


@bp.post("/billing/pay-now")
@login_required
def pay_now() -> ActionResult:
    """Pay the open invoice with the card the button names."""
    return settle(request.form.get("payment_method", ""))


def make_default_and_pay(payment_method_id: str) -> ActionResult:
    """A past-due tenant picked a saved card: it becomes the default and pays at once."""
    try:
        card = set_default_payment_method(current_tenant(), payment_method_id)
    except PortalError as error:
        return _page(error.message, "error", error.status_code)
    return settle(card.id, first=f"{card.label} is now your default card. ")


def settle(payment_method_id: str, *, first: str = "") -> ActionResult:
    """Pay with ``payment_method_id`` and answer with the page; ``first`` starts the notice."""
    tenant = current_tenant()
    try:
        if not payment_method_id.startswith("pm_") or len(payment_method_id) > 255:
            raise NotFound("There is no such card on this account.")
        settled = pay_open_invoice(tenant, payment_method_id)
    except PortalError as error:
        return _page(first + error.message, "error", error.status_code)
    if not is_component_request():
        flash(first + settled.message, "success")
        return redirect(url_for("billing.index", _anchor="subscription"), 303)
    return _page(first + settled.message, "success", 200)


def settle_after_adding(payment_method_id: str) -> tuple[str, str] | None:
    """Back from saving a new card: pay the open invoice with it when one is due. Returns the
    (message, category) to flash, or None when nothing was due."""
    tenant = current_tenant()
    if awaiting_payment(tenant) is None:
        return None
    try:
        settled = pay_open_invoice(tenant, payment_method_id)
    except PortalError as error:
        return f"Your new card is saved and is now the default. {error.message}", "error"
    return f"Your new card is saved and is now the default. {settled.message}", "success"


def _page(message: str, tone: str, status: int) -> ActionResult:
    """The whole billing page with ``message`` on the plan; htmx swaps it into ``<body>``."""
    tenant = current_tenant()
    view = describe_subscription(tenant)
    body, status = render_billing(
        status,
        whole_page=True,
        tenant=tenant,
        view=view,
        details=details_for(tenant, view, whole_page=True),
        notices={"subscription": (message, tone)},
    )
    response = make_response(body, status)
    if is_component_request():
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML show:window:top"
    return response
