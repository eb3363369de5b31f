"""The billing page's overage and alerts form: what it shows, and its parsing.

The form is parsed by hand rather than by WTForms so that each bad value (empty, ``1e3``,
``20.005``, a megabyte of digits) gets a message naming its field, and nothing is saved
unless every field is valid. The spend cap is typed in dollars; the domain keeps cents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from portal.billing.alerts import (
    CAP_ALERTS,
    DAILY_ALERTS,
    Alert,
    alert_recipients,
    alerts_on,
    set_alerts_on,
)
from portal.billing.overage import (
    OverageSettings,
    check_available,
    current_settings,
    update_settings,
)
from portal.errors import PortalError
from portal.extensions import db
from portal.models import Tenant
from portal.plans import OVERAGE_CAP_MAX_CENTS, OVERAGE_CAP_MIN_CENTS, PricingTier
from portal.web.formatting import format_money

ENABLED = "enabled"
CAP = "monthly_cap"
ALERTS = "alerts"
#: Field names as the page labels them, for messages that name the field.
LABELS = {ENABLED: "Overage", CAP: "Monthly spend cap", ALERTS: "Email alerts"}
#: Longer than any amount from $1 to $10,000 could be written; longer input is not echoed back.
MAX_CAP_CHARS = 20
#: Dollars with optional thousands commas and cents: ``20``, ``$1,000``, ``150.5``.
_DOLLARS = re.compile(r"\$?\s*(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<cents>[0-9]+))?")
_TRUE = ("on", "true", "1", "yes")


class OverageFormInvalid(PortalError):
    """One or more fields are invalid; ``errors`` maps each field to its message."""

    status_code = 400

    def __init__(self, errors: dict[str, str], values: dict[str, object]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors
        self.values = values

    @property
    def summary(self) -> str:
        """The section's notice; each field's own message is shown next to it."""
        fields = " and ".join(LABELS[name].lower() for name in self.errors)
        return f"Nothing was saved: check the {fields} below."


@dataclass(frozen=True)
class OverageForm:
    """What a valid form asks for. ``cap_cents`` is None when the form had no overage part."""

    enabled: bool
    cap_cents: int | None
    alerts: frozenset[Alert]


def offered_alerts(tenant: Tenant) -> tuple[Alert, ...]:
    """The alerts a tenant can switch: spend-cap alerts only on Pro, where a cap exists."""
    pro = tenant.tier == PricingTier.PRO.value
    return DAILY_ALERTS + CAP_ALERTS if pro else DAILY_ALERTS


def cap_dollars(cents: int) -> str:
    """A cap as the input shows it: ``20.00``."""
    return f"{cents // 100}.{cents % 100:02d}"


def parse_cap(raw: str | None) -> int:
    """Dollars as typed (``20``, ``$1,000``, ``20.50``) to cents, within the cap's bounds."""
    label = LABELS[CAP]
    bounds = f"from {format_money(OVERAGE_CAP_MIN_CENTS)} to {format_money(OVERAGE_CAP_MAX_CENTS)}"
    text = (raw or "").strip()
    if not text:
        raise ValueError(f"{label}: enter an amount in dollars, {bounds}.")
    if len(text) > MAX_CAP_CHARS:
        raise ValueError(f"{label}: that is not an amount; enter dollars {bounds}, like 20.")
    if text.lstrip("$ ").startswith("-"):
        raise ValueError(f"{label} must be at least {format_money(OVERAGE_CAP_MIN_CENTS)}.")
    match = _DOLLARS.fullmatch(text)
    if match is None:
        raise ValueError(f"{label}: enter dollars in digits, like 20 or 150.50 ({bounds}).")
    extra = (match["cents"] or "")[2:]
    if extra.strip("0"):
        raise ValueError(f"{label}: use whole cents, at most two digits after the point.")
    dollars = int(match["whole"].replace(",", ""))
    cents = dollars * 100 + int((match["cents"] or "")[:2].ljust(2, "0"))
    if cents < OVERAGE_CAP_MIN_CENTS:
        raise ValueError(f"{label} must be at least {format_money(OVERAGE_CAP_MIN_CENTS)}.")
    if cents > OVERAGE_CAP_MAX_CENTS:
        raise ValueError(f"{label} can be at most {format_money(OVERAGE_CAP_MAX_CENTS)}.")
    return cents


def parse_form(form: MultiDict[str, str], tenant: Tenant) -> OverageForm:
    """The form's request, or ``OverageFormInvalid`` naming every bad field.

    A tenant without self-serve overage that sends overage fields gets the domain's 403
    saying why (upgrade, or by contract) before anything is parsed.
    """
    has_overage_part = CAP in form or ENABLED in form
    if has_overage_part:
        check_available(tenant)
    errors: dict[str, str] = {}
    enabled_raw = form.get(ENABLED)
    enabled = enabled_raw is not None and enabled_raw.lower() in _TRUE
    if enabled_raw is not None and not enabled:
        errors[ENABLED] = f"{LABELS[ENABLED]}: tick the box to turn it on, or leave it unticked."
    cap_cents = None
    if has_overage_part:
        try:
            cap_cents = parse_cap(form.get(CAP))
        except ValueError as error:
            errors[CAP] = str(error)
    offered = {alert.value: alert for alert in offered_alerts(tenant)}
    chosen = form.getlist(ALERTS)
    unknown = [name for name in chosen if name not in offered]
    if unknown:
        errors[ALERTS] = f"{LABELS[ALERTS]}: choose among the alerts listed."
    if errors:
        raw_cap = form.get(CAP, "")
        values = {
            ENABLED: enabled,
            CAP: raw_cap if len(raw_cap) <= MAX_CAP_CHARS else "",
            ALERTS: {offered[name] for name in chosen if name in offered},
        }
        raise OverageFormInvalid(errors, values)
    return OverageForm(enabled, cap_cents, frozenset(offered[name] for name in chosen))


def save_form(tenant: Tenant, form: OverageForm) -> str:
    """Apply a valid form and commit; returns what the notice says."""
    if form.cap_cents is not None:
        wanted = OverageSettings(enabled=form.enabled, monthly_cap_cents=form.cap_cents)
        if wanted != current_settings(tenant):
            update_settings(tenant, wanted)
    set_alerts_on(tenant, form.alerts, offered_alerts(tenant))
    db.session.commit()
    if form.cap_cents is None:
        return "Your alert settings are saved."
    if form.enabled:
        return (
            f"Overage is on, capped at {format_money(form.cap_cents)} per billing period. "
            "Your alert settings are saved."
        )
    return "Overage is off: calls past the daily quota get a 429. Your alert settings are saved."


# --- what the section shows ------------------------------------------------------------------


@dataclass(frozen=True)
class AlertOption:
    alert: Alert
    label: str
    detail: str
    on: bool


@dataclass(frozen=True)
class OverageSection:
    """The billing page's overage and alerts section, with a failed submission's values."""

    tier: PricingTier
    #: Whether overage is on now (the badge), and as the form shows it (maybe as submitted).
    stored_enabled: bool
    enabled: bool
    cap: str
    cap_cents: int
    options: list[AlertOption]
    recipients: list[str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def offers_overage(self) -> bool:
        return self.tier == PricingTier.PRO

    def error_for(self, name: str) -> str | None:
        return self.errors.get(name)


def overage_section(tenant: Tenant, invalid: OverageFormInvalid | None = None) -> OverageSection:
    """The section as stored, or as submitted when ``invalid`` says what was wrong."""
    settings = current_settings(tenant)
    enabled, cap, on = settings.enabled, cap_dollars(settings.monthly_cap_cents), alerts_on(tenant)
    if invalid is not None:
        enabled = bool(invalid.values[ENABLED])
        cap = str(invalid.values[CAP])
        on = set(invalid.values[ALERTS])  # type: ignore[call-overload]
    quota = tenant.limits.api_calls_per_day
    cap_cents = settings.monthly_cap_cents

    def detail(alert: Alert) -> str:
        if alert.on_cap:
            return f"{format_money(cap_cents * alert.percent // 100)} of overage in a period"
        return f"{quota * alert.percent // 100:,} calls in a UTC day"

    options = [
        AlertOption(alert, alert.label.capitalize(), detail(alert), alert in on)
        for alert in offered_alerts(tenant)
    ]
    errors = invalid.errors if invalid is not None else {}
    recipients = alert_recipients(tenant.id)
    return OverageSection(
        tenant.pricing_tier, settings.enabled, enabled, cap, cap_cents, options, recipients, errors
    )
