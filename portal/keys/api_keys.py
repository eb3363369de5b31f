"""API keys: the life cycle a tenant drives from the portal (create, list, revoke).

The raw key's shape, hashing and minting live in ``raw_keys`` (framework-free, shared with the
enforcement library). Only a key's SHA-256 hash and a short display prefix are stored. When a key
was last used is written behind by the enforcement runtime (``portal.enforcement.last_used``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app

from portal.billing.subscriptions import lock_tenant
from portal.errors import Conflict, NotFound, PortalError
from portal.extensions import db
from portal.keys.raw_keys import generate_key, hash_key, looks_like_key
from portal.models import ApiKey, Tenant, User
from portal.teams import activity

__all__ = [
    "clean_key_name",
    "create_api_key",
    "find_active_key",
    "generate_key",
    "get_api_key",
    "hash_key",
    "key_environment",
    "list_api_keys",
    "looks_like_key",
    "revoke_api_key",
]

log = logging.getLogger("continuum.api_keys")

NAME_MAX_LENGTH = 100
#: Active (unrevoked) keys one tenant may hold; a script minting keys in a loop stops here.
MAX_ACTIVE_KEYS = 50


def key_environment() -> str:
    """``live`` when a live Stripe secret key is configured, otherwise ``test``."""
    secret = current_app.config.get("STRIPE_SECRET_KEY") or ""
    return "live" if secret.startswith("sk_live_") else "test"


def clean_key_name(name: str) -> str:
    """Trim a key name and check its length, or raise ``PortalError`` saying what is wrong."""
    cleaned = " ".join((name or "").split())
    if not cleaned.isprintable():  # NUL and other control characters (PostgreSQL refuses NUL)
        raise PortalError("Key names are plain text: remove control characters such as NUL.")
    if not cleaned:
        raise PortalError("Give the key a name, e.g. “production server”.")
    if len(cleaned) > NAME_MAX_LENGTH:
        raise PortalError(f"Key names are at most {NAME_MAX_LENGTH} characters.")
    return cleaned


def create_api_key(tenant: Tenant, name: str, created_by: User | None = None) -> tuple[ApiKey, str]:
    """Mint and store a key for ``tenant`` (made by member ``created_by``, logged in the team's
    activity); the raw key is returned here and never again.

    A tenant holds at most ``MAX_ACTIVE_KEYS`` active keys: the tenant row is locked while
    they are counted, so two creations at once cannot both take the last place.
    """
    cleaned = clean_key_name(name)
    lock_tenant(tenant)
    active = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ApiKey)
        .where(ApiKey.tenant_id == tenant.id, ApiKey.revoked_at.is_(None))
    )
    if (active or 0) >= MAX_ACTIVE_KEYS:
        db.session.rollback()
        raise Conflict(
            f"This account already has {MAX_ACTIVE_KEYS} active API keys, the most it can hold. "
            "Revoke one you no longer use, then create the new one."
        )
    raw, prefix = generate_key(key_environment())
    api_key = ApiKey(
        tenant_id=tenant.id,
        name=cleaned,
        prefix=prefix,
        key_hash=hash_key(raw),
        created_by_id=created_by.id if created_by is not None else None,
    )
    db.session.add(api_key)
    if created_by is not None:
        activity.record(tenant.id, created_by, "key_created", f"{api_key.name} ({prefix}…)")
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


def revoke_api_key(tenant: Tenant, key_id: int, actor: User | None = None) -> ApiKey:
    """Revoke the tenant's key ``key_id`` (revoking twice is harmless); a member's revocation
    is logged in the team's activity."""
    api_key = get_api_key(tenant, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = datetime.now(UTC)
        if actor is not None:
            activity.record(tenant.id, actor, "key_revoked", f"{api_key.name} ({api_key.prefix}…)")
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
