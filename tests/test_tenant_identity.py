"""A tenant id names one tenant forever: a deleted tenant's id is never handed out again, so a
new tenant inherits none of its counts (issue 12, item 8)."""

from __future__ import annotations

import pytest

from portal.dashboard.usage import stored_count
from portal.db import utcnow
from portal.enforcement import API_CALLS
from portal.extensions import db


@pytest.mark.both_dbs
def test_a_new_tenant_never_inherits_a_deleted_tenants_calls(app, factory):
    factory.tenant("first")
    deleted = factory.tenant("deleted")  # the highest id: SQLite without AUTOINCREMENT reuses it
    factory.usage(deleted, API_CALLS, 8)
    factory.delete_tenant(deleted)

    new = factory.tenant("new")

    assert new > deleted
    with app.app_context():
        assert stored_count(db.session, new, API_CALLS, utcnow().date()) == 0
