"""WSGI entry point: ``app`` is the portal; ``application`` also serves the example API."""

from portal import create_app

app = create_app()
application = app
