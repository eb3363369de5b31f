"""Forms for the auth pages; the rules themselves live in ``portal.auth.accounts``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.auth.accounts import (
    EMAIL_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    AccountError,
    normalize_email,
    password_problem,
)

_email_field_validators = [
    DataRequired("Enter your email address."),
    Length(max=EMAIL_MAX_LENGTH, message=f"Use at most {EMAIL_MAX_LENGTH} characters."),
]
_password_length = Length(
    max=PASSWORD_MAX_LENGTH, message=f"Use at most {PASSWORD_MAX_LENGTH} characters."
)


def _new_password(label: str, required_message: str) -> PasswordField:
    """A field for choosing a password; the page shows its rule and the browser checks length."""
    return PasswordField(
        label,
        [DataRequired(required_message)],
        description=f"At least {PASSWORD_MIN_LENGTH} characters. A few unrelated words work well.",
        render_kw={
            "autocomplete": "new-password",
            "required": True,
            "minlength": PASSWORD_MIN_LENGTH,
            "maxlength": PASSWORD_MAX_LENGTH,
        },
    )


def _valid_address(form: FlaskForm, field: Field) -> None:
    try:
        normalize_email(field.data)
    except AccountError as error:
        raise ValidationError(error.message) from error


class SignupForm(FlaskForm):
    email = EmailField("Email", [*_email_field_validators, _valid_address])
    password = _new_password("Password", "Choose a password.")

    def validate_password(self, field: Field) -> None:
        problem = password_problem(field.data, self.email.data or "")
        if problem:
            raise ValidationError(problem)


class LoginForm(FlaskForm):
    email = EmailField("Email", _email_field_validators)
    password = PasswordField("Password", [DataRequired("Enter your password."), _password_length])


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", [*_email_field_validators, _valid_address])


class ResetPasswordForm(FlaskForm):
    password = _new_password("New password", "Choose a new password.")

    def validate_password(self, field: Field) -> None:
        problem = password_problem(field.data)
        if problem:
            raise ValidationError(problem)
