"""WSGI entry point: ``app`` is the portal; ``application`` also serves the example API."""

from examples.continuum_api import create_api_app
from portal import create_app
from portal.dispatch import PathDispatcher
from portal.enforcement import enforcement_for

app = create_app()
# One process, one set of counters: the example API shares the portal's enforcement runtime.
application = PathDispatcher(app, create_api_app(enforcement=enforcement_for(app)))
