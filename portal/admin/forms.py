"""The console's forms. Rules about contracts live in ``contracts``; these only parse input."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, Field, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional, ValidationError

from portal.admin.contracts import (
    LIMIT_LABELS,
    LIMIT_NAMES,
    MAX_LIMIT,
    NOTES_MAX_LENGTH,
    REASON_MAX_LENGTH,
)
from portal.models import INQUIRY_STATUSES

_SEPARATORS = re.compile(r"[,_\s]")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def parse_whole(raw: str, label: str) -> int | None:
    """A whole number typed with or without thousands separators; blank is None."""
    text = _SEPARATORS.sub("", raw or "")
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ValidationError(f"{label} must be a whole number from 1 to {MAX_LIMIT:,}.")
    return int(text)


def parse_dollars(raw: str) -> int:
    """A price in dollars ("2000", "2,000.50", "$2000") as cents."""
    text = _SEPARATORS.sub("", raw or "").removeprefix("$")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(
            "Enter the monthly price in dollars, e.g. 2000 or 2,000.50."
        ) from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError("Enter the monthly price in dollars, e.g. 2000 or 2,000.50.")
    return int(amount * 100)


class LimitFields:
    """Adds one optional text field per overridable limit (blank: the tier's own limit)."""

    def overrides(self) -> dict[str, int]:
        result = {}
        for name in LIMIT_NAMES:
            value = getattr(self, name).parsed
            if value is not None:
                result[name] = value
        return result


class LimitField(StringField):
    """A limit override: blank, or a whole number from 1 to ``MAX_LIMIT``."""

    parsed: int | None = None

    def pre_validate(self, form: Any) -> None:
        self.parsed = parse_whole(self.data or "", self.label.text)


def _limit_fields() -> dict[str, LimitField]:
    return {
        name: LimitField(LIMIT_LABELS[name], filters=[_strip], validators=[Length(max=30)])
        for name in LIMIT_NAMES
    }


class LimitsForm(FlaskForm, LimitFields):
    """The overrides alone (a contract's limits, edited without touching its price)."""


class ContractForm(FlaskForm, LimitFields):
    price_month = StringField(
        "Monthly price (USD)",
        filters=[_strip],
        validators=[DataRequired("Enter the contract's monthly price."), Length(max=30)],
    )
    starts_on = DateField(
        "Starts on", validators=[InputRequired("Enter the day the contract starts.")]
    )
    ends_on = DateField("Ends on (optional)", validators=[Optional()])
    notes = TextAreaField(
        "Notes",
        filters=[_strip],
        validators=[
            Length(
                max=NOTES_MAX_LENGTH, message=f"Notes are at most {NOTES_MAX_LENGTH:,} characters."
            )
        ],
    )
    price_cents: int = 0

    def validate_price_month(self, field: Field) -> None:
        self.price_cents = parse_dollars(field.data or "")

    def validate_ends_on(self, field: Field) -> None:
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("The contract cannot end before it starts.")


for _form in (LimitsForm, ContractForm):
    for _name, _field in _limit_fields().items():
        setattr(_form, _name, _field)


class RevokeKeysForm(FlaskForm):
    reason = StringField(
        "Reason",
        filters=[_strip],
        validators=[
            DataRequired("Say why the keys are revoked; it goes into the audit log."),
            Length(
                max=REASON_MAX_LENGTH,
                message=f"Keep the reason under {REASON_MAX_LENGTH} characters.",
            ),
        ],
    )


class ConfirmForm(FlaskForm):
    """A button that changes something and carries only the CSRF token."""


class InquiryStatusForm(FlaskForm):
    status = StringField(
        "Status",
        validators=[
            DataRequired("Choose a status."),
            AnyOf(INQUIRY_STATUSES, message="Choose new, contacted, won or lost."),
        ],
    )


class SecondFactorForm(FlaskForm):
    code = StringField(
        "6-digit code",
        filters=[_strip],
        validators=[DataRequired("Enter the code from your authenticator app."), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
