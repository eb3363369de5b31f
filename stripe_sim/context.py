"""The running simulator's state and settings, shared by routes, pages and the webhook thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from stripe_sim.store import Store

# Smart Retries stand-in: retry a failed renewal 3, 7 and 14 days after the first failure,
# then leave the subscription in the final state (Stripe's default is to cancel).
DEFAULT_SETTINGS: dict[str, Any] = {
    "dunning_retry_days": [3, 7, 14],
    "dunning_final_state": "canceled",
}


@dataclass
class Sim:
    """One simulator instance: its store, key, public URL and webhook configuration."""

    store: Store
    api_key: str
    public_url: str
    startup_endpoints: list[dict[str, str]] = field(default_factory=list)
    startup_destinations: list[dict[str, str]] = field(default_factory=list)
    retry_base: float = 2.0
    max_attempts: int = 6
    delivery_timeout: float = 10.0
    latency_ms: int = 0  # delay before every API answer, to model a slow Stripe
    wake: threading.Event = field(default_factory=threading.Event)

    def endpoints(self) -> list[dict[str, str]]:
        """Start-up endpoints plus those added through ``/_sim/webhook_endpoints``."""
        return self.startup_endpoints + self.store.setting("webhook_endpoints", [])

    def destinations(self) -> list[dict[str, str]]:
        """Event destinations for thin (v2) events: start-up ones plus those added through
        ``/_sim/event_destinations``."""
        return self.startup_destinations + self.store.setting("event_destinations", [])

    def setting(self, name: str) -> Any:
        return self.store.setting(name, DEFAULT_SETTINGS.get(name))

    def switches(self) -> dict[str, bool]:
        return self.store.setting("switches", {"duplicate": False, "reverse": False, "hold": False})

    def url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path


def current_sim() -> Sim:
    """The simulator bound to the running Flask app."""
    return current_app.extensions["stripe_sim"]
