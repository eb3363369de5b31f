"""The one way tests make accounts: users, tenants, API keys and mirrored subscriptions.

Rows are written through the portal's own models and domain functions (a key is minted by
``create_api_key``, a tenant's tier follows its subscriptions by ``refresh_tenant_tier``), so
what a test sets up is what the portal itself would have stored. Every call opens its own app
context and commits, and returns plain values (ids, raw keys, an ``Account``), never rows bound
to a session that is gone. Tests of the sign-up form itself use the form, not this.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.auth.sessions import SEEN_AT, SIGNED_IN_AT
from portal.db import utcnow
from portal.extensions import db
from portal.models import (
    EnterpriseInquiry,
    Membership,
    MeterReport,
    StorageUsage,
    Subscription,
    Tenant,
    UsageCounter,
    User,
)
from tests.factory_teams import TeamFactory

PASSWORD = "violet harbour lantern 42"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
#: Every page a signed-in user sees carries the sign-out form, and so a CSRF token.
SIGNED_IN_PAGE = "/keys"


@cache
def password_hash() -> str:
    """One real argon2 hash of ``PASSWORD``, made once: users can sign in through the form."""
    from portal.auth.accounts import hash_password

    return hash_password(PASSWORD)


def _lookup_key(interval: str) -> str:
    return f"continuum_pro_{'yearly' if interval == 'year' else 'monthly'}"


class PortalClient(FlaskClient):
    """A test client that sends each form's CSRF token, as a browser would."""

    def csrf_token(self, path: str = "/login") -> str:
        """The session's CSRF token, read from a form on the page at ``path``."""
        page = self.get(path)
        match = CSRF_INPUT.search(page.get_data(as_text=True))
        assert match, f"no csrf_token on {path} (status {page.status_code})"
        return match.group(1)

    def post_form(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        token_from: str | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        """POST ``data`` to ``path`` with a valid CSRF token read from ``token_from`` (or path)."""
        token = self.csrf_token(token_from or path)
        return self.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


@dataclass
class Account:
    """A tenant, its owner and (when asked for) one API key."""

    app: Flask
    tenant_id: int
    user_id: int
    email: str
    key: str = ""
    key_id: int | None = None
    _client: PortalClient | None = field(default=None, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The headers that present this account's API key."""
        assert self.key, "this account was made without a key (key=True)"
        return {"X-API-Key": self.key}

    @property
    def client(self) -> PortalClient:
        """A client signed in as the owner (made on first use, then kept)."""
        if self._client is None:
            self._client = sign_in(self.app, self.user_id)
        return self._client

    def sign_in(self, client: FlaskClient) -> None:
        """Sign another client (e.g. the ``client`` fixture) in as the owner."""
        sign_in_client(client, self.user_id)

    def browser_cookie(self, url: str) -> dict[str, Any]:
        """The owner's signed-in session as a cookie for a browser at ``url`` (Playwright's
        ``context.add_cookies``): a browser test starts signed in without the sign-in form."""
        cookie = self.client.get_cookie(self.app.config["SESSION_COOKIE_NAME"])
        assert cookie is not None, "the signed-in client holds no session cookie"
        return {"name": cookie.key, "value": cookie.value, "url": url}

    def tenant(self) -> Tenant:
        """The tenant row, in the caller's app context."""
        tenant = db.session.get(Tenant, self.tenant_id)
        assert tenant is not None
        return tenant

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        """POST a form as the signed-in owner, with the session's CSRF token."""
        return self.client.post_form(path, data, token_from=SIGNED_IN_PAGE, **kwargs)


def sign_in(app: Flask, user_id: int) -> PortalClient:
    """A new client whose session is signed in as ``user_id``."""
    client = PortalClient(app, app.response_class, use_cookies=True)
    sign_in_client(client, user_id)
    return client


def sign_in_client(client: FlaskClient, user_id: int) -> None:
    """Sign ``client``'s session in as ``user_id``, the way Flask-Login stores a sign-in."""
    app = client.application
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        session_id = user.get_id()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
        # What portal.auth.sessions stamps at sign-in: the session's age and last use.
        session[SIGNED_IN_AT] = session[SEEN_AT] = int(time.time())


class Factory(TeamFactory):
    """Makes accounts in one test's app; ``factory.account(tier="pro", key=True)``."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._serial = itertools.count(1)
        self._owners = itertools.count(1)

    # --- one row at a time --------------------------------------------------------------------

    def tenant(
        self,
        name: str = "",
        *,
        tier: str = "free",
        overrides: dict[str, int] | None = None,
        customer_id: str | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """A tenant on ``tier`` (``overrides``: an enterprise contract's limits); its id."""
        with self.app.app_context():
            tenant = Tenant(
                name=name or f"Tenant {next(self._serial)}",
                tier=tier,
                limit_overrides=overrides,
                stripe_customer_id=customer_id,
                created_at=created_at or utcnow(),
            )
            db.session.add(tenant)
            db.session.commit()
            return tenant.id

    def user(self, tenant_id: int, email: str = "", *, role: str = "owner") -> int:
        """A user with ``PASSWORD`` and a ``role`` membership in the tenant; its id."""
        with self.app.app_context():
            user = User(email=email or self._email(), password_hash=password_hash())
            db.session.add_all([user, Membership(user=user, tenant_id=tenant_id, role=role)])
            db.session.commit()
            return user.id

    def key(self, tenant_id: int, name: str = "tests") -> str:
        """A new API key for the tenant, minted as the keys page mints one; the raw key."""
        return self._key(tenant_id, name)[0]

    def subscription(
        self,
        tenant_id: int,
        status: str = "active",
        *,
        interval: str = "month",
        tier: str = "pro",
        cancel_at_period_end: bool = False,
        period_end: datetime | None = None,
        trial_end: datetime | None = None,
        past_due_since: datetime | None = None,
        ended_at: datetime | None = None,
        stripe_id: str = "",
        refresh_tier: bool = True,
        started_at: datetime | None = None,
        previous_interval: str | None = None,
        price_changed_at: datetime | None = None,
    ) -> Subscription:
        """A mirrored subscription row, as ``sync_subscription`` writes one, and the tenant's
        tier derived from it (unless ``refresh_tier`` is false: the state before a scheduled
        job ran). ``started_at`` is Stripe's creation time; ``previous_interval`` and
        ``price_changed_at`` record a plan change. Returns the row, detached (read its columns,
        not relations)."""
        from portal.billing.subscriptions import refresh_tenant_tier

        with self.app.app_context():
            end = period_end or utcnow() + timedelta(days=20)
            sub = Subscription(
                tenant_id=tenant_id,
                stripe_subscription_id=stripe_id or f"sub_test_{tenant_id}_{next(self._serial)}",
                status=status,
                price_lookup_key=_lookup_key(interval),
                tier=tier,
                interval=interval,
                cancel_at_period_end=cancel_at_period_end,
                current_period_start=end - timedelta(days=365 if interval == "year" else 30),
                current_period_end=end,
                trial_end=trial_end,
                past_due_since=past_due_since,
                ended_at=ended_at,
                canceled_at=ended_at,
                started_at=started_at,
                previous_price_lookup_key=(
                    _lookup_key(previous_interval) if previous_interval else None
                ),
                price_changed_at=price_changed_at,
            )
            db.session.add(sub)
            db.session.flush()
            tenant = db.session.get(Tenant, tenant_id)
            assert tenant is not None
            if refresh_tier:
                refresh_tenant_tier(tenant)
            db.session.commit()
            db.session.refresh(sub)
            db.session.expunge(sub)
            return sub

    def usage(self, tenant_id: int, metric: str, value: int, day: date | None = None) -> None:
        """Set the tenant's ``usage_counter`` row for ``metric`` on ``day`` (today, UTC)."""
        with self.app.app_context():
            db.session.merge(
                UsageCounter(
                    tenant_id=tenant_id, metric=metric, day=day or utcnow().date(), value=value
                )
            )
            db.session.commit()

    def delete_tenant(self, tenant_id: int) -> None:
        """Delete the tenant row with plain SQL, as an operator would (on SQLite, without
        foreign-key enforcement, rows that name it stay behind)."""
        with self.app.app_context():
            db.session.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))
            db.session.commit()

    def storage(self, tenant_id: int, **values: int) -> None:
        """Set what the tenant stores: ``memories=``, ``embeddings=``, ``bytes_used=``."""
        with self.app.app_context():
            db.session.merge(StorageUsage(tenant_id=tenant_id, **values))
            db.session.commit()

    def invoice(
        self,
        tenant_id: int,
        *,
        status: str = "paid",
        amount: int = 2900,
        attempt_count: int = 1,
        created: datetime | None = None,
        subscription_id: str | None = None,
        invoice_id: str = "",
    ) -> str:
        """A mirrored invoice, written by ``mirror_invoice`` from a gateway dataclass; its id."""
        from portal.billing.invoice_mirror import mirror_invoice
        from portal.stripe_gateway import StripeInvoice

        moment = created or utcnow()
        remote = StripeInvoice(
            id=invoice_id or f"in_test_{tenant_id}_{next(self._serial)}",
            number=None,
            status=status,
            customer_id=None,
            subscription_id=subscription_id,
            currency="usd",
            amount_due=amount,
            amount_paid=amount if status == "paid" else 0,
            total=amount,
            created=moment,
            period_start=moment,
            period_end=moment + timedelta(days=30),
            attempt_count=attempt_count,
            next_payment_attempt=None,
            hosted_invoice_url=None,
            invoice_pdf=None,
            lines=[],
            paid_at=moment if status == "paid" else None,
        )
        with self.app.app_context():
            tenant = db.session.get(Tenant, tenant_id)
            assert tenant is not None
            invoice_id = mirror_invoice(tenant, remote)
            db.session.commit()
            assert invoice_id is not None
            return invoice_id

    def staff(
        self, email: str = "staff@continuum.example", *, totp_secret: str | None = None
    ) -> int:
        """A staff user (no tenant) with ``PASSWORD``; its id."""
        with self.app.app_context():
            user = User(
                email=email, password_hash=password_hash(), is_staff=True, totp_secret=totp_secret
            )
            db.session.add(user)
            db.session.commit()
            return user.id

    def inquiry(self, tenant_id: int | None = None, **fields: Any) -> int:
        """An enterprise request as the contact form stores it; its id."""
        values: dict[str, Any] = {
            "name": "Ada Lovelace",
            "email": "ada@analytical.example",
            "company": "Analytical Engines",
            "expected_calls_per_day": 2_000_000,
            "message": "We need a contract for our memory service.",
        }
        values.update(fields)
        with self.app.app_context():
            row = EnterpriseInquiry(tenant_id=tenant_id, **values)
            db.session.add(row)
            db.session.commit()
            return row.id

    def meter_report(
        self, tenant_id: int, period_start: datetime, quantity: int, *, reported: bool = False
    ) -> None:
        """An overage outbox row for the usage period starting at ``period_start``."""
        with self.app.app_context():
            start = int(period_start.timestamp())
            db.session.add(
                MeterReport(
                    tenant_id=tenant_id,
                    period_start=start,
                    quantity=quantity,
                    event_time=start + 60,
                    reported_at=utcnow() if reported else None,
                )
            )
            db.session.commit()

    # --- bundles ------------------------------------------------------------------------------

    def account(
        self,
        tier: str = "free",
        *,
        email: str = "",
        name: str = "",
        overrides: dict[str, int] | None = None,
        customer_id: str | None = None,
        key: bool = False,
        key_name: str = "tests",
        created_at: datetime | None = None,
    ) -> Account:
        """A tenant on ``tier`` with its owner (``PASSWORD``), and an API key when ``key``.

        The owner's address is ``email``, else ``<name>@example.com`` for a named tenant, else
        ``owner@example.com`` for the first account of the test and ``owner-N@`` after it. The
        tenant is named ``name``, else after the owner's address, as sign-up names it.
        """
        address = email or (f"{name.lower()}@example.com" if name else self._email())
        tenant_id = self.tenant(
            name or address,
            tier=tier,
            overrides=overrides,
            customer_id=customer_id,
            created_at=created_at,
        )
        user_id = self.user(tenant_id, address)
        account = Account(self.app, tenant_id, user_id, address)
        if key:
            account.key, account.key_id = self._key(tenant_id, key_name)
        return account

    # --- internals ----------------------------------------------------------------------------

    def _email(self) -> str:
        serial = next(self._owners)
        return "owner@example.com" if serial == 1 else f"owner-{serial}@example.com"

    def _key(self, tenant_id: int, name: str) -> tuple[str, int]:
        from portal.keys.api_keys import create_api_key

        with self.app.app_context():
            tenant = db.session.get(Tenant, tenant_id)
            assert tenant is not None
            api_key, raw = create_api_key(tenant, name)
            return raw, api_key.id
