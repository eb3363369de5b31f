"""Input no table can store, refused at the door with a 400 and a message.

Each rule here closes a way hostile input used to reach a 500 (or a half-written row):

- ``SafeJSONProvider``: a JSON body nested past ``MAX_JSON_DEPTH`` (100,000 levels made the
  parser raise ``RecursionError``, which ``get_json(silent=True)`` does not catch), or holding
  text no database stores (NUL, lone surrogates such as ``"\\ud800"``), is refused before any
  view reads it. Every ``request.get_json`` of an app using the provider gets this.
- ``DatabaseIntConverter`` replaces Flask's ``int`` converter: an id past what an INTEGER column
  holds (2³¹ − 1 on PostgreSQL; a 64-bit overflow on SQLite) matches no route, so it is a 404
  and never a query the database driver cannot bind.
- A ``Host`` outside ``TRUSTED_HOSTS`` (``portal.config``) is a plain 400, never a page whose
  links or redirects would name that host.
- A value that its form or view let through but the database refuses (NUL in text on
  PostgreSQL, a number out of range) rolls the request back whole and is a 400
  (``_unstorable_value``). Forms check their own fields first, so the person normally sees the
  message next to the field; query strings the pages only compare stay harmless.
- ``next=`` is followed only when it is a printable path on this site (``portal.auth.routes``
  and the console's ``_next_in_console``): CR/LF there ended up in a ``Location`` header.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import DataError
from werkzeug.exceptions import BadRequest, SecurityError
from werkzeug.routing import IntegerConverter

from portal.errors import PortalError

log = logging.getLogger("continuum.portal")

#: Deeper than any body our JSON routes take, and far below Python's recursion limit.
MAX_JSON_DEPTH = 32
#: The largest value of an INTEGER column on PostgreSQL (and so of every id we route to).
MAX_ROUTED_ID = 2**31 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")


class UnstorableInput(PortalError, BadRequest):
    """A 400 whose message says what to change: the portal renders it as a ``PortalError``
    (page or JSON), an app that knows only HTTP errors (the example API) as a ``BadRequest``."""

    def __init__(self, message: str) -> None:
        PortalError.__init__(self, message)
        BadRequest.__init__(self, description=message)


def text_problem(value: str) -> str | None:
    """Why no database column could store ``value``, or None."""
    if "\x00" in value:
        return "Text may not contain NUL (\\u0000) characters."
    if _SURROGATE.search(value):
        return "Text must be valid Unicode: it contains an unpaired surrogate (e.g. \\ud800)."
    return None


def json_problem(document: Any) -> str | None:
    """Why a parsed JSON document is refused (too deep, or unstorable text), or None."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return problem
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep."
            items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
            for key, item in items:
                if isinstance(key, str):
                    stack.append((key, depth))
                stack.append((item, depth + 1))
    return None


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but a body that is too deep or holds unstorable text is a 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            document = json.loads(s, **kwargs)
        except RecursionError:
            raise UnstorableInput(
                f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep."
            ) from None
        problem = json_problem(document)
        if problem:
            raise UnstorableInput(problem)
        return document


class DatabaseIntConverter(IntegerConverter):
    """``<int:...>`` bounded to the ids a database INTEGER column can hold."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's
        kwargs.setdefault("max", MAX_ROUTED_ID)
        super().__init__(map, *args, **kwargs)


def query_int(name: str, default: int | None = None) -> int | None:
    """The query parameter ``name`` as a whole number from 1 to ``MAX_ROUTED_ID`` (an id, a page
    number), else ``default``: a value past what a query can bind never reaches one."""
    value = request.args.get(name, type=int)
    if value is None or not 1 <= value <= MAX_ROUTED_ID:
        return default
    return value


def init_json(app: Flask) -> None:
    """Give ``app`` the safe JSON provider (the example API uses this alone)."""
    app.json = SafeJSONProvider(app)


def _untrusted_host(error: SecurityError) -> Response:
    """A Host header outside TRUSTED_HOSTS: a plain 400, since no URL can be built for it (so
    the styled error page, full of links, cannot be rendered either)."""
    return Response("This server does not answer for that host name.", 400, mimetype="text/plain")


def _unstorable_value(error: DataError) -> tuple[Response | str, int]:
    """The database refused a value (NUL in text on PostgreSQL, a number out of range): the
    request's transaction is rolled back whole and the person is told to change the input."""
    from portal.extensions import db
    from portal.web.errors import error_response

    log.warning("refused a value the database cannot store on %s: %s", request.path, error.orig)
    db.session.rollback()
    return error_response(
        400,
        "That input cannot be stored",
        "Something you entered contains characters or numbers we cannot store (such as a NUL "
        "character). Nothing was saved; remove them and try again.",
    )


def init_app(app: Flask) -> None:
    """Call before any blueprint is registered: routes bind their converters when added."""
    init_json(app)
    app.register_error_handler(SecurityError, _untrusted_host)
    app.register_error_handler(DataError, _unstorable_value)
    app.url_map.converters["int"] = DatabaseIntConverter
