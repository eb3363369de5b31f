"""This installation of the portal: one database, one random namespace.

Stripe idempotency keys derived from our own ids (``customer-tenant-7``) would collide when two
installations (a staging and a production database, two developers) share one Stripe account:
Stripe answers the second one's create with the first one's customer, or refuses it as "already
in progress with different details" for 24 hours. Every such key therefore carries this
installation's namespace, a random id made once and kept in the ``installation`` table.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, dialect_insert, utcnow

ROW_ID = 1


class Installation(Base):
    """The one row (id 1) naming this installation."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    namespace: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def namespace_in(engine: sa.Engine) -> str:
    """This database's namespace, made on first use in a transaction of its own. Racing first
    uses agree: the row is inserted with ON CONFLICT DO NOTHING and then read back."""
    select = sa.select(Installation.namespace).where(Installation.id == ROW_ID)
    with engine.begin() as connection:
        found = connection.scalar(select)
        if found:
            return str(found)
        insert = dialect_insert(connection, Installation.__table__)
        connection.execute(
            insert.values(
                id=ROW_ID, namespace=secrets.token_hex(8), created_at=utcnow()
            ).on_conflict_do_nothing(index_elements=["id"])
        )
    with engine.connect() as connection:
        return str(connection.scalar(select))


def installation_namespace() -> str:
    """The current app's installation namespace, read once per app. Call it outside a
    transaction holding locks: a first use writes the row in a transaction of its own."""
    from portal.extensions import db

    cached = current_app.extensions.get("continuum.installation")
    if cached is None:
        cached = namespace_in(db.engine)
        current_app.extensions["continuum.installation"] = cached
    return str(cached)
