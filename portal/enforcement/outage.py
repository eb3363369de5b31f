"""The database going away under a plain function: a ``DatabaseUnavailable`` (503) to retry,
never an ``OperationalError`` escaping as a 500.

The decorators answer 503 themselves (``lifecycle.database_unreachable``); the plain functions
(``get_storage_usage``, ``record_storage_usage``, ...) are called from views the portal does not
write, so they raise an error that carries its status and a message a person can act on.
A web framework maps it like any ``PortalError``: the portal's error pages and both example APIs
answer ``{"error": ...}`` with status 503.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from portal.errors import PortalError

log = logging.getLogger("continuum.enforcement")

P = ParamSpec("P")
R = TypeVar("R")

MESSAGE = (
    "Usage and storage cannot be read or recorded right now (the database is unreachable), "
    "so nothing was changed. Please retry in a few seconds."
)


class DatabaseUnavailable(PortalError):
    """The database cannot be reached; nothing was recorded. Retry later."""

    status_code = 503


def is_outage(error: DBAPIError) -> bool:
    """Whether ``error`` means "the database is unreachable" rather than a bad statement."""
    return isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated


def database_guarded(function: Callable[P, R]) -> Callable[P, R]:
    """Turn an unreachable database under ``function`` into ``DatabaseUnavailable``."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except DBAPIError as error:
            if not is_outage(error):
                raise
            log.warning("%s: the database is unreachable (%s)", function.__name__, error.orig)
            raise DatabaseUnavailable(MESSAGE) from error

    return guarded
