"""WSGI entry point: ``app`` is the portal; ``application`` is what a server serves.

``application`` is the portal alone, unless SERVE_EXAMPLE_API=1 (``make run`` sets it) mounts
the example CONTINUUM API next to it. The example keeps its memories in process memory, so it
is a demonstration, not a service.
"""

from __future__ import annotations

from typing import Any

from portal import create_app
from portal.enforcement import enforcement_for
from portal.serving.dispatch import PathDispatcher

app = create_app()
application: Any = app
if app.config["SERVE_EXAMPLE_API"]:
    from examples.continuum_api import create_api_app

    # One process, one set of counters: the example API shares the portal's enforcement runtime.
    application = PathDispatcher(app, create_api_app(enforcement=enforcement_for(app)))
