"""The dashboard poll's reads on PostgreSQL run without an explicit transaction.

Every open dashboard polls ``/dashboard/usage-bars`` every few seconds, and on PostgreSQL a
poll's wall time is mostly waiting on round trips: the pool's liveness ping, BEGIN, three
SELECTs, ROLLBACK. The poll only reads, so its connection is put in autocommit for this one
request (SQLAlchemy's per-connection ``isolation_level`` option; the pool puts the connection
back to the engine's default when the request returns it): no BEGIN, no ROLLBACK, two round
trips fewer. What each SELECT sees does not change: under PostgreSQL's default READ COMMITTED,
every statement of a transaction takes a new snapshot anyway.

What stays as it was: the pool's ping on checkout (a connection broken by a PostgreSQL restart
is replaced, not turned into a 500), and the poll's three queries. What is added: the
connection refuses anything but a SELECT for the request, so a write added to the poll one day
fails loudly instead of committing statement by statement.

SQLite is left alone: its driver sends no BEGIN before a SELECT in the first place.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request, session
from sqlalchemy import event
from sqlalchemy.engine import Connection

from portal.extensions import db

#: The read-only polls that run this way (GET and HEAD only).
POLL_ENDPOINTS = frozenset({"dashboard.usage_bars"})

#: Flask-Login's session key: only a signed-in poll reads the database.
_USER_ID = "_user_id"


class WriteInReadOnlyPoll(RuntimeError):
    """A statement other than a SELECT on a poll's autocommit connection."""


def register(bp: Blueprint) -> None:
    """Run ``begin_poll_reads`` before every other request hook of the app that registers
    ``bp``: the hooks after it (the staff redirect, the team check) already load the signed-in
    user, and a connection's isolation cannot change once it has run a statement."""

    def install(state: Any) -> None:
        app: Flask = state.app
        app.before_request_funcs.setdefault(None, []).insert(0, begin_poll_reads)

    bp.record_once(install)


def begin_poll_reads() -> None:
    """For a signed-in GET of a poll endpoint on PostgreSQL: check out the request's connection
    now, in autocommit and refusing writes. Any other request is left alone."""
    if request.endpoint not in POLL_ENDPOINTS or request.method not in ("GET", "HEAD"):
        return
    if _USER_ID not in session:
        return  # the sign-in redirect reads nothing
    scoped = db.session()
    if scoped.in_transaction() or scoped.get_bind().dialect.name != "postgresql":
        return
    connection = scoped.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    event.listen(connection, "before_cursor_execute", _only_selects)


def _only_selects(
    connection: Connection, cursor: Any, statement: str, parameters: Any, *rest: Any
) -> None:
    if not statement.lstrip()[:6].upper() == "SELECT":
        raise WriteInReadOnlyPoll(
            f"the poll's connection runs without a transaction and only reads: {statement[:60]!r}"
        )
