"""API keys: minted once, stored only as a SHA-256 hash plus a short display prefix.

A key is ``ck_test_`` or ``ck_live_`` followed by 43 URL-safe characters (32 random bytes).
Lookups hash the presented key and find the row by that hash. ``last_used_at`` is gathered in
memory per app and written in one batched UPDATE at most every few seconds, never per request.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, current_app

from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.models import ApiKey, Tenant

log = logging.getLogger("continuum.api_keys")

ENVIRONMENTS = ("test", "live")
KEY_PREFIXES = tuple(f"ck_{environment}_" for environment in ENVIRONMENTS)
SECRET_BYTES = 32
#: token_urlsafe(32) is always 43 characters: 32 bytes in unpadded base64url.
SECRET_LENGTH = 43
KEY_LENGTH = len(KEY_PREFIXES[0]) + SECRET_LENGTH
#: The display prefix shows the environment and the first four secret characters.
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIXES[0]) + 4
NAME_MAX_LENGTH = 100

_KEY_SHAPE = re.compile(r"ck_(?:test|live)_[A-Za-z0-9_-]{43}")


def generate_key(environment: str = "test") -> tuple[str, str]:
    """Return a new raw key and its display prefix, e.g. ``("ck_test_AbC1…", "ck_test_AbC1")``."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, not {environment!r}")
    raw = f"ck_{environment}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return raw, raw[:DISPLAY_PREFIX_LENGTH]


def hash_key(raw: str) -> str:
    """The SHA-256 hex digest of a raw key: what the database stores and looks up by."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def key_environment() -> str:
    """``live`` when a live Stripe secret key is configured, otherwise ``test``."""
    secret = current_app.config.get("STRIPE_SECRET_KEY") or ""
    return "live" if secret.startswith("sk_live_") else "test"


def looks_like_key(raw: object) -> bool:
    """Whether ``raw`` has the exact shape of one of our keys (checked before any DB access)."""
    return (
        isinstance(raw, str)
        and len(raw) == KEY_LENGTH
        and raw.isascii()
        and _KEY_SHAPE.fullmatch(raw) is not None
    )


def clean_key_name(name: str) -> str:
    """Trim a key name and check its length, or raise ``PortalError`` saying what is wrong."""
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise PortalError("Give the key a name, e.g. “production server”.")
    if len(cleaned) > NAME_MAX_LENGTH:
        raise PortalError(f"Key names are at most {NAME_MAX_LENGTH} characters.")
    return cleaned


def create_api_key(tenant: Tenant, name: str) -> tuple[ApiKey, str]:
    """Mint and store a key for ``tenant``; the raw key is returned here and never again."""
    raw, prefix = generate_key(key_environment())
    api_key = ApiKey(
        tenant_id=tenant.id, name=clean_key_name(name), prefix=prefix, key_hash=hash_key(raw)
    )
    db.session.add(api_key)
    db.session.commit()
    log.info("tenant %s created API key %s (%s)", tenant.id, api_key.id, prefix)
    return api_key, raw


def find_active_key(raw: str) -> ApiKey | None:
    """The active key matching ``raw``, or None. Malformed input never reaches the database."""
    if not looks_like_key(raw):
        return None
    api_key = db.session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == hash_key(raw)))
    if api_key is None or not api_key.active:
        return None
    return api_key


def get_api_key(tenant: Tenant, key_id: int) -> ApiKey:
    """The tenant's key ``key_id``; another tenant's key is as absent as a missing one."""
    api_key = db.session.scalar(
        sa.select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant.id)
    )
    if api_key is None:
        raise NotFound("There is no such API key in this account.")
    return api_key


def revoke_api_key(tenant: Tenant, key_id: int) -> ApiKey:
    """Revoke the tenant's key ``key_id`` (revoking twice is harmless)."""
    api_key = get_api_key(tenant, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = datetime.now(UTC)
        db.session.commit()
        log.info("tenant %s revoked API key %s (%s)", tenant.id, api_key.id, api_key.prefix)
    return api_key


def list_api_keys(tenant: Tenant) -> list[ApiKey]:
    """The tenant's keys, newest first, revoked ones included."""
    return list(
        db.session.scalars(
            sa.select(ApiKey)
            .where(ApiKey.tenant_id == tenant.id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    )


class LastUsedTracker:
    """Collects "key X was used at T" in memory; ``flush`` writes them in one batched UPDATE."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pending: dict[int, datetime] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def note(self, key_id: int, when: datetime) -> None:
        with self._lock:
            previous = self._pending.get(key_id)
            if previous is None or when > previous:
                self._pending[key_id] = when

    def due(self) -> bool:
        return time.monotonic() - self._last_flush >= self.interval

    def take(self) -> dict[int, datetime]:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
            return pending

    def put_back(self, pending: dict[int, datetime]) -> None:
        for key_id, when in pending.items():
            self.note(key_id, when)


def _tracker(app: Flask) -> LastUsedTracker:
    # One tracker per app: each app (and each test) has its own database.
    tracker = app.extensions.get("api_key_last_used")
    if tracker is None:
        interval = app.config["API_KEY_LAST_USED_FLUSH_SECONDS"]
        tracker = app.extensions.setdefault("api_key_last_used", LastUsedTracker(interval))
    return tracker


def note_key_used(key_id: int) -> None:
    """Record that key ``key_id`` was used now; writes happen only when a flush is due."""
    tracker = _tracker(current_app)
    tracker.note(key_id, datetime.now(UTC))
    if tracker.due():
        flush_last_used()


_LAST_USED_UPDATE = (
    sa.update(ApiKey.__table__)
    .where(ApiKey.__table__.c.id == sa.bindparam("key_id"))
    # Only move forward, so a late flush from another process cannot turn time back.
    .where(
        sa.or_(
            ApiKey.__table__.c.last_used_at.is_(None),
            ApiKey.__table__.c.last_used_at < sa.bindparam("used_at"),
        )
    )
    .values(last_used_at=sa.bindparam("used_at"))
)


def flush_last_used() -> int:
    """Write every pending last-used time in one executemany UPDATE; returns the keys written.

    It runs on its own connection, so it never commits a request's unfinished session.
    """
    tracker = _tracker(current_app)
    pending = tracker.take()
    if not pending:
        return 0
    rows = [{"key_id": key_id, "used_at": when} for key_id, when in pending.items()]
    try:
        with db.engine.begin() as connection:
            connection.execute(_LAST_USED_UPDATE, rows)
    except sa.exc.SQLAlchemyError as error:
        tracker.put_back(pending)
        log.warning("could not write last-used times of %d API keys: %s", len(rows), error)
        return 0
    return len(rows)
