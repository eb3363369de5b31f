"""``flask admin create`` (staff accounts) and ``flask tenants ...`` (the console's tenant
actions from the shell, audited as ``shell (<login>)``)."""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from portal.admin import audit, contracts, tenants
from portal.admin.audit import Actor
from portal.errors import PortalError
from portal.extensions import db
from portal.models import Membership, Tenant, User, utcnow

admin_cli = AppGroup("admin", help="Staff accounts for the operator console.")
tenants_cli = AppGroup("tenants", help="Look at tenants and change their contracts.")


def _password() -> str:
    """Prompted twice at a terminal; otherwise the first line of standard input."""
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    return sys.stdin.readline().rstrip("\r\n")


@admin_cli.command("create")
@click.argument("email")
def create_staff(email: str) -> None:
    """Make a staff user EMAIL (the password is prompted, or read from standard input)."""
    from portal.auth.accounts import AccountError, hash_password, normalize_email, password_problem

    try:
        address = normalize_email(email)
    except AccountError as error:
        raise click.ClickException(error.message) from None
    if db.session.scalar(sa.select(User.id).where(User.email == address)) is not None:
        raise click.ClickException(
            f"{address} already has an account. Staff accounts are separate from tenant "
            "accounts: use another address."
        )
    password = _password()
    problem = password_problem(password, address)
    if problem:
        raise click.ClickException(problem)
    user = User(email=address, password_hash=hash_password(password), is_staff=True)
    db.session.add(user)
    db.session.flush()
    audit.record(Actor.shell(), "staff.created", after={"staff": address})
    db.session.commit()
    click.echo(f"Staff user {address} created. Sign in at /login, then open /admin.")


def _tenant_for(email: str) -> Tenant:
    """The tenant a member's address belongs to (the first, for a member of several)."""
    tenant = db.session.scalar(
        sa.select(Tenant)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .join(User, User.id == Membership.user_id)
        .where(sa.func.lower(User.email) == email.strip().lower())
        .order_by(Membership.id)
        .limit(1)
    )
    if tenant is None:
        raise click.ClickException(f"No tenant has a member with the address {email}.")
    return tenant


def _run(action: Any, *args: Any) -> Any:
    try:
        return action(*args)
    except PortalError as error:
        raise click.ClickException(error.message) from None


@tenants_cli.command("show")
@click.argument("email")
def show(email: str) -> None:
    """What the console's tenant page shows, as text."""
    tenant = _tenant_for(email)
    today = utcnow().date()
    info = tenants.detail(db.session(), tenant, today)
    sub = info.subscription
    lines = [
        f"Tenant #{tenant.id}: {tenant.name}",
        f"  tier: {tenant.tier}",
        f"  Stripe customer: {tenant.stripe_customer_id or '-'}",
        f"  subscription: {sub.stripe_subscription_id} {sub.status} ({sub.price_lookup_key})"
        if sub
        else "  subscription: none",
    ]
    if info.contract is not None:
        c = info.contract
        ends = f" to {c.ends_on}" if c.ends_on else ""
        lines.append(
            f"  contract: ${c.price_month_cents / 100:,.2f}/month from {c.starts_on}{ends}"
        )
    lines.append("  limits (in force, * = override):")
    for row in info.limits:
        mark = "*" if row.override is not None else " "
        lines.append(f"    {mark} {row.label}: {row.effective:,}")
    lines.append(f"  keys: {info.keys.active} active of {info.keys.total}")
    lines.append(f"  members: {', '.join(f'{e} ({r})' for e, r in info.members) or 'none'}")
    calls = sum(count for _, count in info.daily)
    lines.append(f"  API calls, last 30 days: {calls:,}")
    click.echo("\n".join(lines))


def _limit_options(command: Any) -> Any:
    """One option per overridable limit: a whole number, or "default" to drop the override."""
    for name in reversed(contracts.LIMIT_NAMES):
        command = click.option(
            f"--{name.replace('_', '-')}",
            name,
            metavar="N|default",
            help=f"{contracts.LIMIT_LABELS[name]} (a whole number, or 'default').",
        )(command)
    return command


def _overrides(current: dict[str, int], given: dict[str, str | None]) -> dict[str, int]:
    result = dict(current)
    for name, raw in given.items():
        if raw is None:
            continue
        if raw.strip().lower() == "default":
            result.pop(name, None)
            continue
        text = raw.replace(",", "").replace("_", "").strip()
        if not text.isdigit():
            raise click.BadParameter(
                f"{raw!r} is not a whole number or 'default'.", param_hint=name
            )
        result[name] = int(text)
    return result


@tenants_cli.command("set-enterprise")
@click.argument("email")
@click.option("--price-month", required=True, help="The contract's monthly price in USD.")
@click.option("--starts", type=click.DateTime(["%Y-%m-%d"]), help="Start day (default today).")
@click.option("--ends", type=click.DateTime(["%Y-%m-%d"]), help="End day (default: open-ended).")
@click.option("--notes", default="", help="What was agreed.")
@_limit_options
def set_enterprise(
    email: str, price_month: str, starts: Any, ends: Any, notes: str, **limits: str | None
) -> None:
    """Put EMAIL's tenant on an enterprise contract (or change its contract)."""
    tenant = _tenant_for(email)
    try:
        price = Decimal(price_month.replace(",", "").removeprefix("$"))
    except InvalidOperation:
        raise click.BadParameter(
            "Give the price in dollars, e.g. 2000.", param_hint="--price-month"
        ) from None
    if not price.is_finite() or price != price.quantize(Decimal("0.01")):
        raise click.BadParameter(
            "Give the price in dollars, e.g. 2000.", param_hint="--price-month"
        )
    starts_on: date = starts.date() if starts else utcnow().date()
    terms = contracts.ContractTerms(
        price_month_cents=int(price * 100),
        starts_on=starts_on,
        ends_on=ends.date() if ends else None,
        notes=notes,
        overrides=_overrides(tenant.limit_overrides or {}, limits),
    )
    _run(contracts.make_enterprise, tenant, terms, Actor.shell())
    click.echo(f"Tenant #{tenant.id} is on Enterprise at ${price:,.2f} a month.")
    _echo_limits(tenant)


@tenants_cli.command("set-limits")
@click.argument("email")
@_limit_options
def set_limits(email: str, **limits: str | None) -> None:
    """Change an enterprise tenant's limit overrides; limits not given stay as they are."""
    tenant = _tenant_for(email)
    if all(value is None for value in limits.values()):
        raise click.UsageError("Give at least one limit, e.g. --api-calls-per-day 5000000.")
    _run(
        contracts.set_limits,
        tenant,
        _overrides(tenant.limit_overrides or {}, limits),
        Actor.shell(),
    )
    _echo_limits(tenant)


def _echo_limits(tenant: Tenant) -> None:
    for row in tenants.limit_rows(tenant):
        mark = "*" if row.override is not None else " "
        click.echo(f"  {mark} {row.label}: {row.effective:,}")
