"""Accounts: sign-up, passwords, sign-in and password reset, and the session's user loader.

What the portal says never tells a stranger which addresses have accounts, as far as that can
be done without an email-confirmation step:

- sign-in failures read the same for an unknown address and a wrong password, and an unknown
  address still pays for one argon2 verification, so timing does not tell them apart either;
- a reset request always gets the same answer, and the email goes out off the request thread;
- sign-up is the one place where an existing address cannot be hidden, because a new account is
  signed in at once. A duplicate gets a neutral refusal ("we could not create an account with
  that address"), the owner of the address is told by email, and sign-up is throttled per IP
  and per address, so enumerating through it is slow and noisy.
"""

from __future__ import annotations

import hmac
import logging
import threading
from datetime import UTC, datetime
from typing import NoReturn

import sqlalchemy as sa
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import joinedload

from portal.auth.password_strength import is_guessable
from portal.config import portal_url
from portal.errors import PortalError
from portal.extensions import db, login_manager
from portal.mail import MailError, send_email
from portal.models import Membership, Tenant, User

log = logging.getLogger("continuum.accounts")

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = 254
RESET_TOKEN_MAX_AGE = 30 * 60
RESET_SALT = "continuum.password-reset"

#: argon2id at the OWASP Password Storage Cheat Sheet's first option: 19 MiB, 2 passes, 1 lane.
password_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)

#: Hashed once, verified against when no user matches, so a miss costs as much as a hit.
_MISSING_USER_HASH = password_hasher.hash("no account has this password, it is only for timing")


class AccountError(PortalError):
    """Sign-up, sign-in or reset input that cannot be accepted; the message says why."""


def normalize_email(raw: str) -> str:
    """A valid, lower-cased address, or ``AccountError`` saying what is wrong with it.

    The whole address is lower-cased: case-sensitive local parts exist in theory only, and
    two accounts differing in case would be a support problem.
    """
    candidate = (raw or "").strip()
    if not candidate:
        raise AccountError("Enter your email address.")
    if len(candidate) > EMAIL_MAX_LENGTH:
        raise AccountError(f"Email addresses are at most {EMAIL_MAX_LENGTH} characters.")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise AccountError(f"That is not a valid email address: {error}") from error
    return result.normalized.lower()


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` is not acceptable, or None when it is."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Use at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"Use at most {PASSWORD_MAX_LENGTH} characters."
    folded = password.casefold()
    if email and folded in {email.casefold(), email.split("@")[0].casefold()}:
        return "Do not use your email address as your password."
    if len(set(folded)) < 4 or is_guessable(password, related=(email, email.split("@")[0])):
        return (
            "That password is too common or too easy to guess (it is on lists of leaked "
            "passwords, or follows a pattern they try). Pick a less predictable one, for "
            "example three or four unrelated words."
        )
    return None


def hash_password(password: str) -> str:
    return password_hasher.hash(password)


def sign_up(email: str, password: str) -> User:
    """Create a user, its tenant on the Free tier and the owner membership, in one transaction.

    No Stripe customer is created; that happens on the first upgrade.
    """
    address = normalize_email(email)
    problem = password_problem(password, address)
    if problem:
        raise AccountError(problem)
    if db.session.scalar(sa.select(User.id).where(User.email == address)) is not None:
        _refuse_duplicate(address)
    tenant = Tenant(name=address)
    user = User(email=address, password_hash=hash_password(password))
    db.session.add_all([tenant, user, Membership(user=user, tenant=tenant, role="owner")])
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Two sign-ups raced for the same address; the loser gets the same neutral answer.
        db.session.rollback()
        _refuse_duplicate(address)
    log.info("signed up user %s with tenant %s", user.id, tenant.id)
    return user


def _refuse_duplicate(address: str) -> NoReturn:
    _send_in_background(
        address,
        "Someone tried to sign up with your address",
        "Someone tried to create a CONTINUUM Cloud account with this address, which already "
        "has one. If it was you, sign in, or reset your password here:\n\n"
        f"{portal_url(url_for('auth.reset_request'))}\n\n"
        "If it was not you, you can ignore this email; nothing was changed.",
    )
    raise AccountError(
        "We could not create an account with that address. If you already have an account, "
        "sign in or reset your password."
    )


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None. Upgrades the stored hash if parameters changed."""
    try:
        address = normalize_email(email)
    except AccountError:
        address = ""
    user = db.session.scalar(sa.select(User).where(User.email == address)) if address else None
    if user is None or len(password) > PASSWORD_MAX_LENGTH:
        _verify(_MISSING_USER_HASH, password[:PASSWORD_MAX_LENGTH])
        return None
    if not _verify(user.password_hash, password):
        return None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- password reset ------------------------------------------------------------------------


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def make_reset_token(user: User) -> str:
    # The token carries the password fingerprint; setting a new password makes it stale.
    return _reset_serializer().dumps({"user": user.id, "pw": user.password_fingerprint})


def request_password_reset(email: str) -> None:
    """Email a reset link if an account has this address; say nothing either way."""
    try:
        address = normalize_email(email)
    except AccountError:
        return
    user = db.session.scalar(sa.select(User).where(User.email == address))
    if user is None:
        return
    link = portal_url(url_for("auth.reset_password", token=make_reset_token(user)))
    minutes = RESET_TOKEN_MAX_AGE // 60
    _send_in_background(
        user.email,
        "Reset your CONTINUUM Cloud password",
        f"Someone asked to reset the password of this CONTINUUM Cloud account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n"
        "The link works once. If you did not ask for it, ignore this email; your password "
        "stays as it is.",
    )


def user_for_reset_token(token: str) -> User:
    """The user a valid, unused, unexpired token belongs to, or ``AccountError``."""
    invalid = AccountError(
        "This reset link is invalid, already used or expired. Request a new one below."
    )
    try:
        payload = _reset_serializer().loads(token, max_age=RESET_TOKEN_MAX_AGE)
    except BadSignature as error:  # SignatureExpired is one too
        raise invalid from error
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int):
        raise invalid
    user = db.session.get(User, payload["user"])
    if user is None or payload.get("pw") != user.password_fingerprint:
        raise invalid
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password through a reset token, which stops working once this succeeds."""
    user = user_for_reset_token(token)
    problem = password_problem(new_password, user.email)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(new_password)
    db.session.commit()
    log.info("user %s reset their password", user.id)
    return user


# --- helpers -------------------------------------------------------------------------------


def _send_in_background(to: str, subject: str, body: str) -> None:
    """Send off the request thread: neither timing nor an SMTP failure may reveal the account."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def send() -> None:
        with app.app_context():
            try:
                send_email(to, subject, body)
            except MailError:
                log.warning("account email %r to %s was not sent", subject, to)

    threading.Thread(target=send, name="account-mail", daemon=True).start()


#: The signed-in user with their memberships and their tenants, in one query: every signed-in
#: page reads them. Built once (every request runs it; a prebuilt statement costs a quarter
#: less than ``session.get`` with these options, which builds its query each time).
_USER_WITH_TENANTS = (
    sa.select(User)
    .options(joinedload(User.memberships).joinedload(Membership.tenant))
    .where(User.id == sa.bindparam("user_id"))
)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user a session names, if neither the password nor the session version (bumped at
    sign-out) has changed since it signed in."""
    user_id, _, rest = session_id.partition(":")
    fingerprint, _, version = rest.partition(":")
    if not user_id.isdigit() or not version.isdigit() or len(user_id) > 10:
        return None
    result = db.session.execute(_USER_WITH_TENANTS, {"user_id": int(user_id)})
    user = result.unique().scalar_one_or_none()
    if user is None or not hmac.compare_digest(user.password_fingerprint, fingerprint):
        return None
    if int(version) != (user.session_version or 0):
        return None
    return user
