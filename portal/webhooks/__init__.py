"""The Stripe webhook endpoint, as a blueprint any Flask app (the portal, the API) can mount.

``from portal.webhooks import webhooks_bp`` loads the views on first use; the event ledger
(``events``) and the handlers (``handlers``) import without Flask's request machinery.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "webhooks_bp":
        from portal.webhooks.routes import webhooks_bp

        return webhooks_bp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
