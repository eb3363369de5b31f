"""A tiny WSGI dispatcher: the example CONTINUUM API and the portal in one process."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

API_PREFIX = "/api"
API_PATHS = frozenset({"/health", "/docs"})


class PathDispatcher:
    """Send ``/api``, ``/api/*``, ``/health`` and ``/docs`` to ``api``; the rest to ``portal``."""

    def __init__(self, portal: Any, api: Any) -> None:
        self.portal = portal
        self.api = api

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        is_api = path in API_PATHS or path == API_PREFIX or path.startswith(API_PREFIX + "/")
        app = self.api if is_api else self.portal
        result: Iterable[bytes] = app(environ, start_response)
        return result
