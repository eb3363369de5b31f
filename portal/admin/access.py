"""Who may use the operator console: signed-in staff, with a TOTP second factor where required.

Everyone else gets the site's ordinary 404, so the console's addresses tell a stranger nothing.
The second factor is always required in production (``PORTAL_ENV=production``) and may be
turned on elsewhere with ``ADMIN_REQUIRE_TOTP``. A staff member sets it up on their first
console sign-in; the session then carries a mark bound to their password and secret, so a new
password or a new secret asks for a code again.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pyotp
from flask import current_app, session
from flask_login import current_user

from portal.errors import PortalError
from portal.models import User

ISSUER = "CONTINUUM Cloud"
#: Codes from the step before and after the current one are accepted (clock drift).
DRIFT_STEPS = 1
STEP_SECONDS = 30
_SESSION_MARK = "admin_second_factor"
_SESSION_PENDING = "admin_totp_pending"


class SecondFactorError(PortalError):
    """A TOTP code that was not accepted; the message says why."""


def current_staff() -> User | None:
    """The signed-in staff member, or None for anyone else."""
    if current_user.is_authenticated and getattr(current_user, "is_staff", False):
        user: User = current_user._get_current_object()
        return user
    return None


def second_factor_required() -> bool:
    config = current_app.config
    return config.get("ENV_NAME") == "production" or bool(config.get("ADMIN_REQUIRE_TOTP"))


def _mark(user: User) -> str:
    material = f"{user.get_id()}:{user.totp_secret or ''}"
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()[:40]


def second_factor_done(user: User) -> bool:
    """Whether this session has passed the second factor for ``user`` as they are now."""
    if not second_factor_required():
        return True
    mark = session.get(_SESSION_MARK)
    return (
        isinstance(mark, str)
        and user.totp_secret is not None
        and (hmac.compare_digest(mark, _mark(user)))
    )


def pending_secret(user: User) -> str:
    """The secret being set up in this session (made once, kept until it is confirmed)."""
    secret = session.get(_SESSION_PENDING)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = pyotp.random_base32()
        session[_SESSION_PENDING] = secret
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` link an authenticator app reads (or its secret typed in by hand)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code is ``code`` (within the allowed drift), or None."""
    totp = pyotp.TOTP(secret)
    current = int(now) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _clean(code: str) -> str:
    digits = "".join((code or "").split())
    if not (digits.isdigit() and len(digits) == 6):
        raise SecondFactorError("Enter the 6-digit code your authenticator app shows.")
    return digits


def confirm_setup(user: User, code: str, now: float | None = None) -> None:
    """Store the pending secret once ``code`` proves the app has it; the caller commits."""
    secret = pending_secret(user)
    step = _matching_step(secret, _clean(code), time.time() if now is None else now)
    if step is None:
        raise SecondFactorError(
            "That code does not match. Check the time on your phone and try the next code."
        )
    user.totp_secret = secret
    user.totp_last_step = step
    session.pop(_SESSION_PENDING, None)
    session[_SESSION_MARK] = _mark(user)


def verify(user: User, code: str, now: float | None = None) -> None:
    """Accept ``code`` for a staff member who has a secret; each code works once. The caller
    commits (the last accepted step is stored)."""
    if user.totp_secret is None:
        raise SecondFactorError("Set up your authenticator app first.")
    step = _matching_step(user.totp_secret, _clean(code), time.time() if now is None else now)
    if step is None or step <= (user.totp_last_step or -1):
        raise SecondFactorError("That code is wrong or was already used. Wait for the next one.")
    user.totp_last_step = step
    session[_SESSION_MARK] = _mark(user)
