"""Helpers the team tests share: sending an invite as an owner and reading its emailed link."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from werkzeug.test import TestResponse

from tests.factory import Account

LINK = re.compile(r"http://\S+/invites/\S+")
SIGNUP_PASSWORD = "copper kettle winter 58"


def send_invite(owner: Account, email: str, role: str = "developer") -> TestResponse:
    return owner.client.post_form(
        "/team/invites", {"email": email, "role": role}, token_from="/team"
    )


def link_in(message: Any) -> str:
    """The path of the invite link in an email."""
    match = LINK.search(message.get_content())
    assert match, message.get_content()
    return urlsplit(match.group(0)).path


def latest_link(smtp_server: Any, address: str, count: int = 1) -> str:
    smtp_server.wait_for(count)
    return link_in(smtp_server.to(address)[-1])
