"""Tenants: the searchable list, the detail page, and the staff actions on one tenant."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import contracts, tenants
from portal.admin.charts import Series, bar_chart
from portal.admin.forms import ConfirmForm, ContractForm, LimitsForm, RevokeKeysForm
from portal.admin.views import bp, staff_actor
from portal.billing.cancellations import reasons_for
from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.models import EnterpriseInquiry, Tenant, utcnow
from portal.plans import PricingTier
from portal.web.hostile_input import query_int


def _tenant(tenant_id: int) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("There is no tenant with that number.")
    return tenant


@bp.get("/tenants")
def tenant_list() -> str:
    """Search by email, name or Stripe customer id; filter by tier and subscription status."""
    query = request.args.get("q", "")
    tier = request.args.get("tier", "")
    status = request.args.get("status", "")
    page = query_int("page", 1) or 1
    rows, total = tenants.search_tenants(db.session(), query, tier, status, page)
    return render_template(
        "admin/tenants.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // tenants.PER_PAGE)),
        query=query,
        tier=tier,
        status=status,
        tiers=[t.value for t in PricingTier],
        statuses=tenants.STATUSES,
    )


def _detail(tenant: Tenant, revoke_form: RevokeKeysForm | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    info = tenants.detail(db.session(), tenant, utcnow().date())
    chart = bar_chart(
        "chart-tenant-calls",
        "API calls per day, last 30 days",
        [f"{day:%d}" for day, _ in info.daily],
        [Series("Calls", [calls for _, calls in info.daily])],
    )
    return render_template(
        "admin/tenant.html",
        info=info,
        chart=chart,
        revoke_form=revoke_form or RevokeKeysForm(),
        confirm_form=ConfirmForm(),
        cancel_reasons=reasons_for(tenant.id),
    ), status


@bp.get("/tenants/<int:tenant_id>")
def tenant_detail(tenant_id: int) -> tuple[str, int]:
    return _detail(_tenant(tenant_id))


def _contract_prefill(tenant: Tenant) -> dict[str, Any]:
    contract = contracts.current_contract(tenant.id)
    overrides = tenant.limit_overrides or {}
    data: dict[str, Any] = {name: f"{value}" for name, value in overrides.items()}
    if contract is not None:
        data |= {
            "price_month": f"{contract.price_month_cents / 100:.2f}",
            "starts_on": contract.starts_on,
            "ends_on": contract.ends_on,
            "notes": contract.notes,
        }
    else:
        data["starts_on"] = utcnow().date()
        inquiry_id = query_int("inquiry")
        inquiry = db.session.get(EnterpriseInquiry, inquiry_id) if inquiry_id else None
        if inquiry is not None:
            volume = inquiry.expected_calls_per_day
            data["notes"] = f"From request #{inquiry.id} ({inquiry.company}, {inquiry.email})" + (
                f", expecting {volume:,} calls a day." if volume is not None else "."
            )
    return data


@bp.route("/tenants/<int:tenant_id>/enterprise", methods=["GET", "POST"])
def enterprise(tenant_id: int) -> BaseResponse | tuple[str, int]:
    """Make the tenant Enterprise with a contract, or change its contract."""
    tenant = _tenant(tenant_id)
    form = ContractForm(data=None if request.method == "POST" else _contract_prefill(tenant))
    if form.validate_on_submit() and form.starts_on.data is not None:
        terms = contracts.ContractTerms(
            price_month_cents=form.price_cents,
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            notes=form.notes.data or "",
            overrides=form.overrides(),
        )
        try:
            contracts.make_enterprise(tenant, terms, staff_actor())
        except PortalError as error:
            form.form_errors.append(error.message)
        else:
            flash(
                f"{tenant.name} is on an enterprise contract. The API applies it within seconds.",
                "success",
            )
            return redirect(url_for("admin.tenant_detail", tenant_id=tenant.id))
    status = 400 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template(
        "admin/enterprise.html",
        tenant=tenant,
        form=form,
        contract=contracts.current_contract(tenant.id),
        limits=tenants.limit_rows(tenant),
    ), status


@bp.route("/tenants/<int:tenant_id>/limits", methods=["GET", "POST"])
def limits(tenant_id: int) -> BaseResponse | tuple[str, int]:
    """Edit an enterprise tenant's limit overrides (blank: the tier's own limit)."""
    tenant = _tenant(tenant_id)
    overrides = tenant.limit_overrides or {}
    prefill = {name: f"{value}" for name, value in overrides.items()}
    form = LimitsForm(data=None if request.method == "POST" else prefill)
    if form.validate_on_submit():
        try:
            contracts.set_limits(tenant, form.overrides(), staff_actor())
        except PortalError as error:
            form.form_errors.append(error.message)
        else:
            flash("Limits saved. The API applies them within seconds.", "success")
            return redirect(url_for("admin.tenant_detail", tenant_id=tenant.id))
    status = 400 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template(
        "admin/limits.html", tenant=tenant, form=form, limits=tenants.limit_rows(tenant)
    ), status


def _confirmed() -> None:
    """The action buttons carry only a CSRF token: check it (and nothing else) was sent."""
    if not ConfirmForm().validate_on_submit():
        raise PortalError("That request could not be understood. Reload the page and try again.")


@bp.post("/tenants/<int:tenant_id>/standard-rules")
def standard_rules(tenant_id: int) -> BaseResponse:
    """End the contract: the tenant follows the Free/Pro rules of its subscriptions again."""
    tenant = _tenant(tenant_id)
    _confirmed()
    tier = contracts.return_to_standard_rules(tenant, staff_actor())
    flash(f"The contract ended. {tenant.name} is on {tier.label}, by its subscriptions.", "success")
    return redirect(url_for("admin.tenant_detail", tenant_id=tenant.id))


@bp.post("/tenants/<int:tenant_id>/resync")
def resync(tenant_id: int) -> BaseResponse:
    """Re-read the tenant's subscriptions and invoices from Stripe."""
    tenant = _tenant(tenant_id)
    _confirmed()
    after = contracts.resync_from_stripe(tenant, staff_actor())
    flash(
        f"Resynced from Stripe: {len(after['subscriptions'])} subscription(s), "
        f"{after['invoices_mirrored']} invoice(s). Tier: {tenant.tier}.",
        "success",
    )
    return redirect(url_for("admin.tenant_detail", tenant_id=tenant.id))


@bp.post("/tenants/<int:tenant_id>/revoke-keys")
def revoke_keys(tenant_id: int) -> BaseResponse | tuple[str, int]:
    """Revoke every active key of the tenant, with a reason for the audit log."""
    tenant = _tenant(tenant_id)
    form = RevokeKeysForm()
    if not form.validate_on_submit():
        return _detail(tenant, form, status=400)
    count = contracts.revoke_all_keys(tenant, form.reason.data or "", staff_actor())
    flash(f"Revoked {count} key(s). Calls with them are refused from now on.", "success")
    return redirect(url_for("admin.tenant_detail", tenant_id=tenant.id))
