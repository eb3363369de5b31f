"""The billing blueprint's HTML pages: plans, the Enterprise contact form and the billing page.

Every page works as plain HTML forms and links. htmx enhances the billing page's components
(``hx-target="this"``): a request aimed at one gets just that block of the same template back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from werkzeug.wrappers import Response

from portal.billing.cancellations import REASONS
from portal.billing.card_mirror import credit_cents, ensure_warm
from portal.billing.enterprise import EnterpriseInquiryForm, record_inquiry
from portal.billing.invoices import list_invoices
from portal.billing.payment_methods import SavedCard, list_payment_methods
from portal.billing.plan_changes import preview_interval_switch
from portal.billing.views import bp
from portal.billing.views.overage_form import overage_section
from portal.billing.views.view_models import (
    PlanState,
    SubscriptionView,
    describe_subscription,
    invoice_status,
    line_description,
    past_due_view,
    plan_cards,
)
from portal.errors import PortalError
from portal.extensions import limiter
from portal.models import Tenant, utcnow
from portal.plans import (
    OVERAGE_CAP_MAX_CENTS,
    OVERAGE_CAP_MIN_CENTS,
    OVERAGE_CENTS_PER_1000_CALLS,
    PLANS,
    YEARLY_SAVING_PERCENT,
    BillingInterval,
    PricingTier,
)
from portal.stripe_gateway import StripeInvoice
from portal.teams.context import current_membership
from portal.teams.context import current_tenant as team_tenant
from portal.web.formatting import format_money
from portal.web.layout import is_component_request

BILLING_TEMPLATE = "billing/index.html"
#: The billing page's htmx components: element id -> the block of BILLING_TEMPLATE it is.
COMPONENTS = {
    "subscription": "subscription",
    "overage": "overage",
    "payment-methods": "payment_methods",
    "invoices": "invoices",
}
#: The event a plan change sends (``HX-Trigger``) so the invoices component reloads itself.
BILLING_CHANGED = "billing-changed"


def current_tenant() -> Tenant:
    """The session's current team (``portal.teams.context``)."""
    return team_tenant()


def component_target() -> str | None:
    """The billing-page component an htmx request wants back, if any (boosts want the page)."""
    if not is_component_request():
        return None
    target = request.headers.get("HX-Target")
    return target if target in COMPONENTS else None


def render_billing(
    status: int = 200, *, whole_page: bool = False, **context: Any
) -> tuple[str, int]:
    """The billing page, or only the component an htmx request targets (unless
    ``whole_page``: an answer that changes more than one component, and the banner)."""
    context.setdefault("saving", YEARLY_SAVING_PERCENT)
    context.setdefault("invoice_status", invoice_status)
    context.setdefault("line_description", line_description)
    context.setdefault("cancel_reasons", REASONS)
    context.setdefault("plans", PLANS)
    context.setdefault("today", utcnow().date())
    if "overage" not in context and "tenant" in context:
        context["overage"] = overage_section(context["tenant"])
    target = None if whole_page else component_target()
    if target:
        return render_block(BILLING_TEMPLATE, COMPONENTS[target], **context), status
    return render_template(BILLING_TEMPLATE, **context), status


# --- what every page can show ------------------------------------------------------------


def _past_due_banner() -> SubscriptionView | None:
    """The signed-in tenant's past-due subscription, read only when the layout asks."""
    if current_membership() is None:  # signed out, or staff (who have no team)
        return None
    return past_due_view(current_tenant())


#: The overage price and the cap's bounds as every page words them, from the catalog.
OVERAGE_WORDS = {
    "overage_rate": f"{format_money(OVERAGE_CENTS_PER_1000_CALLS)} per 1,000 calls",
    "overage_cap_bounds": (
        f"from {format_money(OVERAGE_CAP_MIN_CENTS)} to {format_money(OVERAGE_CAP_MAX_CENTS)}"
    ),
}


@bp.app_context_processor
def _banner_context() -> dict[str, Any]:
    return {"past_due_banner": _past_due_banner, **OVERAGE_WORDS}


# --- plans -------------------------------------------------------------------------------------


@bp.get("/billing/upgrade")
def upgrade() -> str:
    """Free, Pro and Enterprise side by side; the spec's ``upgrade_url``."""
    view = describe_subscription(current_tenant()) if current_membership() else None
    requested = request.args.get("interval")
    if requested in (BillingInterval.MONTH, BillingInterval.YEAR):
        interval = BillingInterval(requested)
    else:
        interval = (view.interval if view else None) or BillingInterval.MONTH
    return render_template(
        "billing/plans.html",
        cards=plan_cards(view.plan.tier if view else None),
        view=view,
        interval=interval,
        saving=YEARLY_SAVING_PERCENT,
    )


@bp.route("/billing/enterprise", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"], deduct_when=lambda response: response.status_code < 400)
def enterprise() -> Response | tuple[str, int]:
    """The Enterprise contact form: stored, then emailed to sales."""
    form = EnterpriseInquiryForm()
    if request.method == "GET" and current_user.is_authenticated:
        form.email.data = current_user.email
    if form.validate_on_submit():
        tenant = current_tenant() if current_membership() else None
        inquiry = record_inquiry(form, tenant)
        flash(
            f"Thank you, {inquiry.name}. Our sales team has your request and will reply to "
            f"{inquiry.email} within one business day.",
            "success",
        )
        return redirect(url_for("billing.upgrade"), 303)
    status = 400 if form.is_submitted() else 200
    plan = PLANS[PricingTier.ENTERPRISE]
    return render_template("billing/enterprise.html", form=form, plan=plan), status


# --- the billing page ------------------------------------------------------------------------


@dataclass
class StripeDetails:
    """What the billing page loads from Stripe; ``problem`` says why it is missing."""

    cards: list[SavedCard] = field(default_factory=list)
    invoices: list[StripeInvoice] = field(default_factory=list)
    problem: str | None = None
    #: Credit on the Stripe customer (its negative balance, e.g. left by a downgrade), in
    #: cents: Stripe spends it on the next invoices before charging a card.
    credit_cents: int = 0

    @property
    def open_invoice(self) -> StripeInvoice | None:
        return next((inv for inv in self.invoices if inv.status == "open"), None)


def stripe_details(tenant: Tenant, *, cards: bool = True, invoices: bool = True) -> StripeDetails:
    """Cards and invoices from the local mirror, or the reason they cannot be shown. A warm
    mirror (or no customer) means no Stripe call; a cold one is backfilled first."""
    if not tenant.stripe_customer_id or not (cards or invoices):
        return StripeDetails()
    try:
        ensure_warm(tenant)
        saved = list_payment_methods(tenant) if cards else []
        listed = list_invoices(tenant) if invoices else []
        credit = credit_cents(tenant) if cards else 0
    except PortalError as error:
        return StripeDetails(problem=error.message)
    return StripeDetails(cards=saved, invoices=listed, credit_cents=credit)


def details_for(
    tenant: Tenant, view: SubscriptionView, *, whole_page: bool = False
) -> StripeDetails:
    """Only what the requested component shows: a full page loads everything."""
    target = None if whole_page else component_target()
    if target is None:
        return stripe_details(tenant)
    payment_failed = view.state in (PlanState.PAST_DUE, PlanState.INCOMPLETE)
    return stripe_details(
        tenant,
        # The plan panel names the card its confirm buttons charge, and offers to pay the open
        # invoice with it after a failed payment; "Make default" then pays it too.
        cards=target in ("payment-methods", "subscription"),
        invoices=target == "invoices" or payment_failed,
    )


@bp.get("/billing/")
@login_required
def index() -> tuple[str, int]:
    """The tenant's plan in plain words, its cards and its invoices.

    ``?change=year`` shows the proration preview of a switch; ``?confirm=cancel`` asks before
    cancelling. Both are steps of the subscription component, so they work without JS.
    """
    tenant = current_tenant()
    view = describe_subscription(tenant)
    context: dict[str, Any] = {}
    change = request.args.get("change")
    if change and view.can_change_interval:
        context.update(step="change", change_interval=change)
        try:
            context["preview"] = preview_interval_switch(tenant, change)
        except PortalError as error:
            context["preview_error"] = error.message
    elif request.args.get("confirm") == "cancel" and view.can_cancel:
        context["step"] = "cancel"
    return render_billing(tenant=tenant, view=view, details=details_for(tenant, view), **context)
