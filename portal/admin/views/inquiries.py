"""The enterprise requests inbox: the contact form's requests, with sales' status on each."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import audit
from portal.admin.forms import InquiryStatusForm
from portal.admin.views import bp, staff_actor
from portal.errors import NotFound
from portal.extensions import db
from portal.models import INQUIRY_STATUSES, EnterpriseInquiry, Tenant


def _inbox(status: str, form: InquiryStatusForm | None = None, failed: int | None = None):  # type: ignore[no-untyped-def]
    query = sa.select(EnterpriseInquiry).order_by(
        EnterpriseInquiry.created_at.desc(), EnterpriseInquiry.id.desc()
    )
    if status in INQUIRY_STATUSES:
        query = query.where(EnterpriseInquiry.status == status)
    inquiries = list(db.session.scalars(query.limit(200)))
    tenant_ids = {i.tenant_id for i in inquiries if i.tenant_id is not None}
    tenants = {
        t.id: t for t in db.session.scalars(sa.select(Tenant).where(Tenant.id.in_(tenant_ids)))
    }
    counts = dict(
        db.session.execute(
            sa.select(EnterpriseInquiry.status, sa.func.count()).group_by(EnterpriseInquiry.status)
        ).all()
    )
    return render_template(
        "admin/inquiries.html",
        inquiries=inquiries,
        tenants=tenants,
        status=status,
        statuses=INQUIRY_STATUSES,
        counts=counts,
        form=form,
        failed=failed,
    ), (400 if failed is not None else 200)


@bp.get("/requests")
def inquiries() -> tuple[str, int]:
    """Newest first; filter by status."""
    return _inbox(request.args.get("status", ""))


@bp.post("/requests/<int:inquiry_id>/status")
def inquiry_status(inquiry_id: int) -> BaseResponse | tuple[str, int]:
    """Move a request along: new, contacted, won or lost."""
    inquiry = db.session.get(EnterpriseInquiry, inquiry_id)
    if inquiry is None:
        raise NotFound("There is no enterprise request with that number.")
    form = InquiryStatusForm()
    if not form.validate_on_submit():
        return _inbox("", form, failed=inquiry.id)
    before = inquiry.status
    if form.status.data != before:
        inquiry.status = form.status.data or before
        audit.record(
            staff_actor(),
            "request.status_changed",
            tenant_id=inquiry.tenant_id,
            before={"request": inquiry.id, "status": before},
            after={"request": inquiry.id, "status": inquiry.status},
        )
        db.session.commit()
    flash(f"Request #{inquiry.id} from {inquiry.company} is now {inquiry.status}.", "success")
    return redirect(url_for("admin.inquiries", status=request.args.get("status", "")))
