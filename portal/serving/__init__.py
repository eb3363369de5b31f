"""Serving the portal: the development server, the production checks, and the path dispatcher
that mounts the example API next to the portal."""
