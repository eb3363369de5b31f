"""WSGI entry point: ``app`` is the portal; ``application`` also serves the example API."""

from examples.continuum_api import create_api_app
from portal import create_app
from portal.enforcement import enforcement_for
from portal.serving.dispatch import PathDispatcher

app = create_app()
# One process, one set of counters: the example API shares the portal's enforcement runtime.
application = PathDispatcher(app, create_api_app(enforcement=enforcement_for(app)))
