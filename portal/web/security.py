"""Security headers on every response, and the per-request CSP nonce templates use.

The Content-Security-Policy allows our own origin only, plus the Stripe origins a form may
submit to (Checkout and the billing portal are reached by redirects after a POST, and Chrome
applies ``form-action`` to those redirects). With ``STRIPE_API_BASE`` set, the simulator's origin
stands in for Stripe's.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

STRIPE_HOSTED_ORIGINS = ("https://checkout.stripe.com", "https://billing.stripe.com")
HSTS_MAX_AGE = 63_072_000  # two years

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "microphone",
        "payment",
        "usb",
    )
)


def csp_nonce() -> str:
    """This request's nonce, for the rare ``<script nonce=...>`` a template needs."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_form_origins(api_base: str) -> tuple[str, ...]:
    """Where forms may lead: the simulator's origin when configured, else Stripe's pages."""
    return (origin_of(api_base),) if api_base else STRIPE_HOSTED_ORIGINS


def content_security_policy(nonce: str, form_origins: tuple[str, ...]) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": "'self'",
        # Pico draws its form icons as data: SVGs.
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "form-action": " ".join(("'self'", *form_origins)),
        "frame-ancestors": "'none'",
        "base-uri": "'self'",
        "object-src": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _as_htmx_redirect(response: Response) -> None:
    """Turn a cross-origin redirect answering an htmx request into ``HX-Redirect``.

    A boosted form that ends at Stripe Checkout would otherwise make the browser follow the
    redirect inside the XHR, which CORS and ``connect-src`` refuse; htmx navigates instead.
    """
    location = response.headers.get("Location", "")
    if (
        request.headers.get("HX-Request") == "true"
        and response.status_code in (301, 302, 303, 307, 308)
        and urlsplit(location).netloc not in ("", request.host)
    ):
        response.status_code = 200
        response.headers["HX-Redirect"] = location
        del response.headers["Location"]


def init_app(app: Flask) -> None:
    form_origins = stripe_form_origins(app.config.get("STRIPE_API_BASE", ""))
    send_hsts = app.config.get("ENV_NAME", "development") != "development"

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        _as_htmx_redirect(response)
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy(csp_nonce(), form_origins)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        headers["X-Frame-Options"] = "DENY"
        headers["Permissions-Policy"] = PERMISSIONS_POLICY
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if send_hsts:
            headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE}; includeSubDomains"
        return response

    app.jinja_env.globals["csp_nonce"] = csp_nonce
