"""Forms for the API keys page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..api_keys import NAME_MAX_LENGTH


class CreateKeyForm(FlaskForm):
    name = StringField(
        "Key name",
        [
            DataRequired("Give the key a name, e.g. “production server”."),
            Length(max=NAME_MAX_LENGTH, message=f"Use at most {NAME_MAX_LENGTH} characters."),
        ],
        filters=[lambda value: " ".join(value.split()) if value else value],
    )
