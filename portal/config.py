"""Configuration, read once from the environment (a ``.env`` file in development), and the
portal's absolute URLs, which follow from its ``PORTAL_BASE_URL``."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _trusted_hosts(raw: str, base_url: str, development: bool) -> list[str] | None:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if names:
        return names
    if development:
        return None
    host = urlsplit(base_url).hostname
    return [host] if host else None


class Config:
    """Settings for one app instance. Every value comes from the environment."""

    def __init__(self) -> None:
        env = os.environ.get
        self.ENV_NAME = env("PORTAL_ENV", "development")
        self.SECRET_KEY = env("SECRET_KEY", "")
        self.SQLALCHEMY_DATABASE_URI = env(
            "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.sqlite3'}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.PORTAL_BASE_URL = env("PORTAL_BASE_URL", "http://127.0.0.1:5000")
        #: Host headers the portal answers (Flask refuses others with a 400), so no redirect or
        #: link is ever built from a Host an attacker sent. Default outside development: the
        #: host of PORTAL_BASE_URL. Development (bound to 127.0.0.1) accepts any.
        self.TRUSTED_HOSTS = _trusted_hosts(
            env("TRUSTED_HOSTS", ""), self.PORTAL_BASE_URL, self.ENV_NAME == "development"
        )

        self.STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", "")
        self.STRIPE_API_BASE = env("STRIPE_API_BASE", "")
        self.STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", "")
        #: The event destination's secret, for thin events (the meter's error reports).
        self.STRIPE_THIN_WEBHOOK_SECRET = env("STRIPE_THIN_WEBHOOK_SECRET", "")
        self.STRIPE_TRIAL_DAYS = _env_int("STRIPE_TRIAL_DAYS", 0)
        self.STRIPE_TEST_CLOCK = env("STRIPE_TEST_CLOCK", "")
        self.PAST_DUE_GRACE_DAYS = _env_int("PAST_DUE_GRACE_DAYS", 7)
        #: The overage reporter thread (``portal.billing.meter_reporter``) and its interval.
        self.METER_REPORTER_ENABLED = _env_bool("METER_REPORTER_ENABLED", True)
        self.METER_REPORT_SECONDS = float(env("METER_REPORT_SECONDS", "30"))

        self.REDIS_URL = env("REDIS_URL", "")
        # Several portals (or a test) can share one Redis under different prefixes.
        self.ENFORCEMENT_REDIS_PREFIX = env("ENFORCEMENT_REDIS_PREFIX", "continuum:")
        self.RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_HEADERS_ENABLED = True
        self.ENFORCEMENT_FAIL_MODE = env("ENFORCEMENT_FAIL_MODE", "closed")
        self.USAGE_FLUSH_SECONDS = float(env("USAGE_FLUSH_SECONDS", "1.0"))
        self.API_KEY_LAST_USED_FLUSH_SECONDS = float(env("API_KEY_LAST_USED_FLUSH_SECONDS", "30"))
        #: How often the dashboard's usage bars poll while the tab is visible.
        self.USAGE_POLL_SECONDS = float(env("USAGE_POLL_SECONDS", "3"))

        self.SMTP_HOST = env("SMTP_HOST", "127.0.0.1")
        self.SMTP_PORT = _env_int("SMTP_PORT", 25)
        self.SMTP_USER = env("SMTP_USER", "")
        self.SMTP_PASSWORD = env("SMTP_PASSWORD", "")
        self.SMTP_STARTTLS = _env_bool("SMTP_STARTTLS", False)
        self.MAIL_SENDER = env("MAIL_SENDER", "CONTINUUM Cloud <billing@continuum.local>")
        self.SALES_EMAIL = env("SALES_EMAIL", "sales@continuum.local")
        self.MAIL_ENABLED = _env_bool("MAIL_ENABLED", True)
        # wsgi.py mounts the example API (memories in process memory) only when asked.
        self.SERVE_EXAMPLE_API = _env_bool("SERVE_EXAMPLE_API", False)
        #: Staff sign in to the operator console with a TOTP code too. Always on in production;
        #: development may turn it on to try it.
        self.ADMIN_REQUIRE_TOTP = _env_bool("ADMIN_REQUIRE_TOTP", False)
        #: The bearer token /metrics wants; without one /metrics is not served (404).
        self.METRICS_TOKEN = env("METRICS_TOKEN", "")

        development = self.ENV_NAME == "development"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", not development)
        # A __Host- cookie is only ever sent to this exact host, over HTTPS, for the whole site:
        # a sibling subdomain cannot plant or overwrite it. Browsers need Secure for it.
        self.SESSION_COOKIE_NAME = "__Host-session" if self.SESSION_COOKIE_SECURE else "session"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        # 1 MB covers every real form; anything bigger is refused with a 413 before parsing.
        self.MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
        self.MAX_FORM_MEMORY_SIZE = self.MAX_CONTENT_LENGTH
        self.WTF_CSRF_TIME_LIMIT = None

    def as_dict(self) -> dict[str, object]:
        return {name: value for name, value in vars(self).items() if name.isupper()}


def portal_url(path: str) -> str:
    """``path`` on the portal as an absolute URL, for emails and Stripe's return links."""
    from flask import current_app  # here, so reading the configuration needs no Flask

    base: str = current_app.config["PORTAL_BASE_URL"]
    return base.rstrip("/") + path


class ConfigError(RuntimeError):
    """The environment is missing something the portal cannot run without."""
