"""Stripe going down for a moment, without stopping the simulator the session shares.

The app's Stripe base URL points, for the block, at a local port that is bound but never
listens, so every connection is refused: what the portal sees when Stripe is unreachable.
Restarting the simulator proves the same thing and costs about two seconds; one test
(a failed webhook retried after the outage) still does it, to cover reconnecting.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask


@contextmanager
def refused_url() -> Iterator[str]:
    """An ``http://127.0.0.1:PORT`` URL that refuses connections while the block runs."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound and not listening: a connect gets ECONNREFUSED
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@contextmanager
def stripe_unreachable(app: Flask) -> Iterator[None]:
    """Stripe refuses every connection from ``app`` until the block ends."""
    saved = app.config["STRIPE_API_BASE"]
    with refused_url() as url:
        app.config["STRIPE_API_BASE"] = url
        try:
            yield
        finally:
            app.config["STRIPE_API_BASE"] = saved
