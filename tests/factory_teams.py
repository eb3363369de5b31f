"""The factory's team methods (``factory.member``, ``factory.join``), mixed into
``tests.factory.Factory``: still one factory, kept in a file of its own for size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.extensions import db
from portal.models import Membership

if TYPE_CHECKING:
    from tests.factory import Account


class TeamFactory:
    app: Any
    _serial: Any

    def user(self, tenant_id: int, email: str = "", *, role: str = "owner") -> int:
        raise NotImplementedError  # Factory.user

    def member(self, tenant_id: int, role: str, email: str = "") -> Account:
        """A new person with ``role`` in the tenant (``<role>-N@example.com`` unless named), as
        an accepted invite leaves them: no team of their own."""
        from tests.factory import Account

        address = email or f"{role}-{next(self._serial)}@example.com"
        return Account(self.app, tenant_id, self.user(tenant_id, address, role=role), address)

    def join(self, user_id: int, tenant_id: int, role: str) -> None:
        """Add an existing user to another tenant with ``role``."""
        with self.app.app_context():
            db.session.add(Membership(user_id=user_id, tenant_id=tenant_id, role=role))
            db.session.commit()
