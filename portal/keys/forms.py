"""Forms for the API keys page; the naming rule itself lives in ``portal.keys.api_keys``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from portal.errors import PortalError
from portal.keys.api_keys import clean_key_name


def _valid_name(form: FlaskForm, field: Field) -> None:
    """Tidy the name as the key will store it, or show why it cannot be one."""
    try:
        field.data = clean_key_name(field.data)
    except PortalError as error:
        raise ValidationError(error.message) from error


class CreateKeyForm(FlaskForm):
    name = StringField("Key name", [_valid_name])
