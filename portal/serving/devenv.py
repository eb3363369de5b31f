"""Print a development ``.env`` with fresh random secrets (``make env`` runs this once).

It wires the portal to the local Stripe simulator and the local development mail server that
``make run`` starts; a real deployment sets these variables in its own environment instead.
"""

from __future__ import annotations

import secrets


def development_env() -> str:
    lines = {
        "PORTAL_ENV": "development",
        "SECRET_KEY": secrets.token_hex(32),
        "STRIPE_API_BASE": "http://127.0.0.1:12111",
        "STRIPE_SECRET_KEY": f"sk_test_{secrets.token_hex(24)}",
        "STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_hex(24)}",
        "STRIPE_THIN_WEBHOOK_SECRET": f"whsec_{secrets.token_hex(24)}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "8025",
    }
    return "".join(f"{name}={value}\n" for name, value in lines.items())


if __name__ == "__main__":
    print(development_env(), end="")
