"""Two owners stepping down at the same moment: the tenant lock lets one through, and the
team keeps an owner. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from portal.errors import Conflict
from portal.extensions import db
from portal.models import Membership, Tenant, User
from portal.teams import members


@pytest.mark.both_dbs
def test_two_owners_demoting_each_other_leave_one_owner(app, factory):
    first = factory.account(name="Acme")
    second = factory.member(first.tenant_id, "owner")
    with app.app_context():
        ids = {
            m.user_id: m.id
            for m in db.session.scalars(
                sa.select(Membership).where(Membership.tenant_id == first.tenant_id)
            )
        }
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor_id: int, target_user: int) -> None:
        with app.app_context():
            tenant = db.session.get(Tenant, first.tenant_id)
            actor = db.session.get(User, actor_id)
            barrier.wait()
            try:
                members.change_role(tenant, actor, ids[target_user], "viewer")
            except Conflict:
                outcomes.append("refused")
            else:
                outcomes.append("demoted")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=demote, args=(first.user_id, second.user_id)),
        threading.Thread(target=demote, args=(second.user_id, first.user_id)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "refused"]
    with app.app_context():
        owners = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == first.tenant_id, Membership.role == "owner")
        )
    assert owners == 1
