"""``make serve``: check the environment, then hand over to gunicorn, which applies migrations.

Several workers share nothing but PostgreSQL and Redis, so a setting that would give each
worker its own database file or its own counters is refused here, in one line, before gunicorn
starts (limits would silently multiply by the worker count). Gunicorn's ``on_starting`` hook
runs the same check with the worker count it really uses, then ``migrate``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from portal.config import ROOT

DEFAULT_PORT = 5000
DEFAULT_HOST = "0.0.0.0"
GUNICORN_CONFIG = "python:portal.serving.gunicorn_conf"
WSGI_APP = "wsgi:application"
IN_PROCESS_STORAGE = "memory://"


class Refused(Exception):
    """The environment cannot be served as asked; the message says why, in one line."""


@dataclass(frozen=True)
class ServePlan:
    """Where and how many workers gunicorn runs."""

    host: str
    port: int
    workers: int


def default_workers() -> int:
    """Two workers per core: a sync worker waits on PostgreSQL and Redis about half the time."""
    return 2 * (os.cpu_count() or 1)


def _positive_int(env: Mapping[str, str], name: str, default: int, *, top: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise Refused(f"{name}={raw!r} is not a whole number from 1 to {top}.")
    return int(raw)


def plan(env: Mapping[str, str]) -> ServePlan:
    """Host, port and worker count from HOST, PORT and WEB_CONCURRENCY (default 2 × cores)."""
    return ServePlan(
        host=env.get("HOST", "").strip() or DEFAULT_HOST,
        port=_positive_int(env, "PORT", DEFAULT_PORT, top=65535),
        workers=_positive_int(env, "WEB_CONCURRENCY", default_workers(), top=1024),
    )


def check(env: Mapping[str, str], workers: int) -> None:
    """Refuse (``Refused``) what cannot work in production with ``workers`` processes."""
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        if not env.get(name, "").strip():
            raise Refused(f"{name} is not set; make serve needs it in the environment.")
    if workers > 1 and env["DATABASE_URL"].strip().startswith("sqlite"):
        raise Refused(
            f"DATABASE_URL is SQLite, which {workers} workers cannot share; use PostgreSQL "
            "(postgresql+psycopg://...) or WEB_CONCURRENCY=1."
        )
    if workers > 1 and env.get("RATELIMIT_STORAGE_URI", "").strip() == IN_PROCESS_STORAGE:
        raise Refused(
            f"RATELIMIT_STORAGE_URI is memory://, in-process counters that {workers} workers "
            "would each keep apart; unset it (it then follows REDIS_URL) or use WEB_CONCURRENCY=1."
        )


def apply_defaults(env: MutableMapping[str, str]) -> None:
    """Production defaults: the portal's own rate limits live in Redis too, and the portal
    runs as production (secure cookies, HSTS) unless PORTAL_ENV says otherwise."""
    if not env.get("RATELIMIT_STORAGE_URI", "").strip() and env.get("REDIS_URL", "").strip():
        env["RATELIMIT_STORAGE_URI"] = env["REDIS_URL"].strip()
    if not env.get("PORTAL_ENV", "").strip():
        env["PORTAL_ENV"] = "production"


def migrate() -> None:
    """Bring the database schema up to the newest migration (no-op when it is there)."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from portal import create_app
    from portal.enforcement import enforcement_for
    from portal.extensions import db

    app = create_app()
    try:
        with app.app_context():
            upgrade()
            db.engine.dispose()
    except sa.exc.OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        raise Refused(f"the database at DATABASE_URL cannot be migrated: {reason}") from None
    finally:
        enforcement_for(app).stop()


def gunicorn_command() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, WSGI_APP]


def main() -> None:
    """Check, then become gunicorn (so signals reach its master directly)."""
    from dotenv import load_dotenv

    dotenv = ROOT / ".env"
    # create_app reads it too, so the checks must see what the workers will see.
    load_dotenv(dotenv, override=False)
    try:
        check(os.environ, plan(os.environ).workers)
    except Refused as refusal:
        sys.exit(f"make serve refused to start: {refusal}")
    if dotenv.exists():
        print(f"make serve: {dotenv} fills what the environment leaves unset", file=sys.stderr)
    os.chdir(ROOT)
    command = gunicorn_command()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
