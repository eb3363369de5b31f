"""What a raw API key looks like: minting one, its SHA-256, and recognising its shape.

Pure functions with no database and no web framework, so the enforcement library can check and
hash keys without importing the portal's key pages or extensions.

A key is ``ck_test_`` or ``ck_live_`` followed by 43 URL-safe characters (32 random bytes).
"""

from __future__ import annotations

import hashlib
import re
import secrets

ENVIRONMENTS = ("test", "live")
KEY_PREFIXES = tuple(f"ck_{environment}_" for environment in ENVIRONMENTS)
SECRET_BYTES = 32
#: token_urlsafe(32) is always 43 characters: 32 bytes in unpadded base64url.
SECRET_LENGTH = 43
KEY_LENGTH = len(KEY_PREFIXES[0]) + SECRET_LENGTH
#: The display prefix shows the environment and the first four secret characters.
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIXES[0]) + 4

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


def looks_like_key(raw: object) -> bool:
    """Whether ``raw`` has the exact shape of one of our keys (checked before any DB access)."""
    return (
        isinstance(raw, str)
        and len(raw) == KEY_LENGTH
        and raw.isascii()
        and _KEY_SHAPE.fullmatch(raw) is not None
    )
