"""One fuzz test over the whole portal (issue 12, item 1): every route of the app's URL map, and
of the example API, gets a corpus of hostile values in every path part, query parameter, form
field and JSON field, on SQLite and PostgreSQL. No answer may be a 5xx, and a refused request
(4xx) may change no row of any table.

The names sent are found, not listed by hand: form fields from every WTForms form and every
``name="..."`` in the templates, query parameters and JSON fields from the source's
``request.args.get("...")`` and ``.get("...")`` calls in the JSON routes. The caller is a
signed-in tenant owner who is also staff, so the operator console's routes are reached too;
rate limits are off so that a 429 never hides what a route would do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_wtf import FlaskForm
from wtforms.fields.core import UnboundField

from examples.continuum_api import create_api_app
from portal.billing.cli import bootstrap_catalog
from portal.enforcement import enforcement_for
from portal.extensions import db, limiter
from portal.models import User
from tests.factory import CSRF_INPUT, Factory, sign_in_client

ROOT = Path(__file__).resolve().parent.parent
DEEP = "[" * 50_000 + "]" * 50_000

#: Text values: sent in query strings and form fields (percent-encoded by hand, so a lone
#: surrogate and invalid UTF-8 arrive as the raw bytes a hostile client would send).
TEXT_CORPUS = [
    "",
    "a%00b",
    "%ED%A0%80",  # a lone surrogate, as UTF-8 bytes
    "%FF%FE",  # not UTF-8 at all
    "%0D%0ASet-Cookie:%20x=1",
    "x" * 20_000,
    "99999999999999999999999999",
    "-1e309",
    "%3Cscript%3E'%20OR%201=1%20--",
    "..%2F..%2F%EF%BD%86%EF%BD%95%EF%BD%8C%EF%BD%8C%F0%9F%98%80",  # fullwidth "full" and an emoji
]
#: JSON values, each sent as every JSON field at once (strings as JSON escapes).
JSON_CORPUS = [
    '"\\u0000"',
    '"\\ud800"',
    '"' + "x" * 20_000 + '"',
    "-1",
    "18446744073709551616",
    "1e309",
    "true",
    "null",
    '[{"a": [1]}]',
    DEEP,
]
#: Path parts: for ``<int:...>`` and for string converters.
INT_PATH_CORPUS = ["0", "2147483648", "9223372036854775808", "1" + "0" * 40]
TEXT_PATH_CORPUS = ["%00", "%0D%0A", "x" * 300, "%ED%A0%80", "pm_%27%22%3C%3E..%2F.."]


def _source(*globs: str) -> str:
    return "\n".join(p.read_text() for g in globs for p in sorted(ROOT.glob(g)))


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def form_field_names() -> set[str]:
    names = {
        name
        for form in _subclasses(FlaskForm)
        for klass in form.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, UnboundField)
    }
    names |= set(re.findall(r'name="([a-z_]+)"', _source("templates/**/*.html")))
    names |= set(re.findall(r'request\.form\.get\w*\("(\w+)"', _source("portal/**/*.py")))
    return names - {"csrf_token"}


def query_names() -> set[str]:
    return set(re.findall(r'request\.args\.get\w*\("(\w+)"', _source("portal/**/*.py")))


def json_field_names() -> set[str]:
    code = _source(
        "portal/billing/views/json_api.py",
        "portal/billing/views/overage_api.py",
        "portal/billing/overage.py",
        "examples/continuum_api.py",
    )
    return set(re.findall(r'\.get\("(\w+)"', code)) | set(re.findall(r'"(\w+)", default=', code))


#: Local copies of Stripe's objects: a page that answers a refusal may fill them from Stripe
#: (the billing page's first view), which records Stripe's state, not the refused input.
STRIPE_MIRRORS = {"invoice", "payment_method", "customer_mirror"}


def snapshot(app: Flask) -> str:
    """A digest of every row of every table but the Stripe mirrors (on PostgreSQL in one round
    trip)."""
    tables = [table for table in db.metadata.sorted_tables if table.name not in STRIPE_MIRRORS]
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            digests = ", ".join(
                f"(SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, ',' "
                f"ORDER BY r::text)), '') FROM \"{table.name}\" r)"
                for table in tables
            )
            return repr(tuple(connection.execute(sa.text(f"SELECT {digests}")).one()))
        digest = hashlib.sha256()
        for table in tables:
            rows = sorted(repr(tuple(row)) for row in connection.execute(sa.select(table)))
            digest.update(f"{table.name}:{len(rows)}:{rows}".encode())
        return digest.hexdigest()


class Fuzzer:
    """Sends requests, checks each answer, and keeps the last accepted state of the tables."""

    def __init__(self, app: Flask, client: Any, user_id: int, headers: dict[str, str]) -> None:
        self.app, self.client, self.user_id, self.headers = app, client, user_id, headers
        self.state = snapshot(app)
        self.sent = 0
        self.failures: list[str] = []
        self._token = ""

    def token(self) -> str:
        """The session's CSRF token, read again only after a request was accepted (a sign-in
        rotates it)."""
        if not self._token:
            page = self.client.get("/keys").get_data(as_text=True)
            match = CSRF_INPUT.search(page)
            assert match, "the fuzzing client is signed out"
            self._token = match.group(1)
        return self._token

    def send(self, method: str, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {}).update(self.headers)
        response = self.client.open(url, method=method, **kwargs)
        self.sent += 1
        what = f"{method} {url[:120]} {str(kwargs.get('data', ''))[:80]!r}"
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code} on {what}")
        refused = 400 <= response.status_code < 500
        if refused or method != "GET":  # an accepted GET changes nothing: no need to look
            after = snapshot(self.app)
            if refused and after != self.state:
                self.failures.append(f"{response.status_code} changed rows on {what}")
            self.state = after
        if response.status_code < 400 and self.user_id:
            sign_in_client(self.client, self.user_id)  # a sign-out or reset ends the session
            self._token = ""


def rule_urls(rule: Any) -> list[str]:
    """The rule's URL with hostile values in each of its path parts (one valid id too)."""
    if not rule.arguments:
        return [rule.rule]
    urls = []
    for argument in rule.arguments:
        converter = type(rule._converters[argument]).__name__
        corpus = INT_PATH_CORPUS if "Int" in converter else TEXT_PATH_CORPUS
        for value in corpus:
            path = rule.rule
            for name in rule.arguments:
                path = re.sub(rf"<(\w+:)?{name}>", value if name == argument else "1", path)
            urls.append(path)
    return urls


def fuzz(fuzzer: Fuzzer, app: Flask, *, forms: bool) -> None:
    queries, fields, json_fields = query_names() | {"next"}, form_field_names(), json_field_names()
    assert {"next", "interval"} <= queries and {"name", "email", "password"} <= fields
    assert {"interval", "at_period_end", "content"} <= json_fields
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for url in rule_urls(rule):
            for value in TEXT_CORPUS if url == rule.rule else TEXT_CORPUS[:1]:
                query = "&".join(f"{name}={value}" for name in sorted(queries))
                for method in methods:
                    target = f"{url}?{query}"
                    if method == "GET":
                        fuzzer.send("GET", target)
                        continue
                    if forms:
                        body = "&".join(f"{name}={value}" for name in sorted(fields))
                        body += f"&csrf_token={quote(fuzzer.token())}"
                        fuzzer.send(
                            method,
                            target,
                            data=body.encode(),
                            content_type="application/x-www-form-urlencoded",
                        )
            if any(m in (rule.methods or ()) for m in ("POST", "PUT")):
                method = "PUT" if "PUT" in (rule.methods or ()) else "POST"
                # The whole JSON corpus for routes that read JSON; two values for the rest.
                reads_json = url.startswith(("/v1/", "/api/")) and url == rule.rule
                for value in JSON_CORPUS if reads_json else JSON_CORPUS[-2:]:
                    body = "{" + ", ".join(f'"{n}": {value}' for n in sorted(json_fields)) + "}"
                    for document in (body, value) if value == DEEP else (body,):
                        fuzzer.send(
                            method,
                            url,
                            data=document.encode(),
                            content_type="application/json",
                            headers={"X-CSRFToken": fuzzer.token()} if forms else {},
                        )


@pytest.fixture(autouse=True)
def _limiter_back_on() -> Iterator[None]:
    """Flask-Limiter keeps RATELIMIT_ENABLED=False on its one shared instance for every app
    made after this test's: turn it back on for the tests that follow."""
    yield
    limiter.enabled = True


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    app_config.update(
        STRIPE_SECRET_KEY=sim.api_key,
        STRIPE_API_BASE=sim.url,
        STRIPE_WEBHOOK_SECRET="whsec_fuzz",
        STRIPE_THIN_WEBHOOK_SECRET="whsec_fuzz_thin",
        RATELIMIT_ENABLED=False,
        METRICS_TOKEN="fuzz-metrics-token",
        # Nothing is written behind the requests while the tables are compared.
        USAGE_FLUSH_SECONDS=3600.0,
        API_KEY_LAST_USED_FLUSH_SECONDS=3600.0,
    )
    return app_config


# On SQLite here and on PostgreSQL in ``test_fuzz_routes_postgresql.py``: two files, so two
# test workers can share the minute this walk takes on each database.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_no_route_answers_hostile_input_with_a_5xx_or_a_partial_write(
    app: Flask, app_config: dict[str, Any], factory: Factory
) -> None:
    with app.app_context():
        bootstrap_catalog()  # the Pro prices Checkout needs, in the simulator
    owner = factory.account("pro", key=True)
    factory.inquiry(owner.tenant_id)
    with app.app_context():
        user = db.session.get(User, owner.user_id)
        assert user is not None
        user.is_staff = True
        db.session.commit()
    client = app.test_client()
    sign_in_client(client, owner.user_id)

    portal = Fuzzer(app, client, owner.user_id, {})
    fuzz(portal, app, forms=True)

    api_app = create_api_app(app_config, enforcement=enforcement_for(app))
    api = Fuzzer(app, api_app.test_client(), 0, owner.headers)
    api.state = snapshot(app)
    fuzz(api, api_app, forms=False)

    enforcement_for(app).stop()
    failures = portal.failures + api.failures
    assert not failures, f"{len(failures)} of {portal.sent + api.sent} requests:\n" + "\n".join(
        failures[:40]
    )
    assert portal.sent > 500
