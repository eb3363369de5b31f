"""A form value the form let through but PostgreSQL cannot store (NUL in text) is a 400 with a
message, and the request's writes are rolled back whole (issue 12, item 1)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import AdminAudit, EnterpriseContract
from tests.factory import Factory, PortalClient


@pytest.mark.both_dbs
def test_nul_in_contract_notes_never_half_writes(
    app: Flask, staff: PortalClient, factory: Factory, db_backend: str
) -> None:
    tenant = factory.account("free", name="Freeman").tenant_id
    path = f"/admin/tenants/{tenant}/enterprise"
    response = staff.post_form(
        path, {"price_month": "2000", "starts_on": "2026-01-01", "notes": "agreed\x00 by phone"}
    )
    with app.app_context():
        contracts = db.session.scalar(sa.select(sa.func.count()).select_from(EnterpriseContract))
        audits = db.session.scalar(sa.select(sa.func.count()).select_from(AdminAudit))
    if db_backend == "postgresql":
        assert response.status_code == 400
        assert "cannot store" in response.get_data(as_text=True)
        assert (contracts, audits) == (0, 0)
    else:  # SQLite stores NUL like any other character
        assert response.status_code == 302
        assert contracts == 1
