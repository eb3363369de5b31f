"""Shared fixtures: a migrated fresh database per test, clients, SMTP, Redis and a real browser.

Accounts (users, tenants, API keys, subscriptions) come from one place, the ``factory`` fixture
(tests/factory.py). Fixtures that change ``app_config`` (``smtp_server``) must be requested
before anything that builds the app, ``factory`` included.

Tests marked ``both_dbs`` run on SQLite and on PostgreSQL (127.0.0.1:5432, database ``test``).
When PostgreSQL or Redis is absent those variants skip with the reason, except under CI=true,
where an absent service fails the run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from werkzeug.test import TestResponse

from portal import create_app
from tests.factory import PASSWORD, Factory, PortalClient
from tests.metrics_mode import metrics_mode_per_test  # noqa: F401 - autouse, found here

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "tests" / "screenshots"))


def service_missing(what: str, error: Exception) -> None:
    """Skip for a missing service, or fail when CI promised it would be there."""
    message = f"{what} is not reachable ({error.__class__.__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def base_test_config(database_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_ENABLED": False,
        "STRIPE_SECRET_KEY": "",
        "STRIPE_API_BASE": "",
        "STRIPE_WEBHOOK_SECRET": "",
        "REDIS_URL": "",
        "SERVER_NAME": None,
        # A test that serves the app with TESTING off would start the meter reporter, whose
        # last pass at exit would find the test's database gone; the reporter tests start it.
        "METER_REPORTER_ENABLED": False,
    }


def run_migrations(database_url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(base_test_config(database_url))
    with app.app_context():
        upgrade()
        from portal.extensions import db

        db.engine.dispose()


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    run_migrations(f"sqlite:///{path}")
    return path


@contextmanager
def private_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named ``<prefix>_<random>``, dropped on exit; skips (or
    fails under CI) when PostgreSQL is not reachable."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        admin.dispose()
        service_missing("PostgreSQL at 127.0.0.1:5432", error)
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A private, migrated PostgreSQL database for this test session, dropped at the end."""
    with private_postgres_database("continuum_test") as url:
        run_migrations(url)
        yield url


def truncate_all(url: str) -> None:
    from portal.extensions import db

    engine = sa.create_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_dbs"):
        metafunc.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(request: pytest.FixtureRequest, db_backend: str, tmp_path: Path) -> str:
    if db_backend == "postgresql":
        url: str = request.getfixturevalue("postgres_database")
        truncate_all(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "portal.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    """Settings for the ``app`` fixture; override this fixture to change them for a module."""
    return base_test_config(database_url)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    app.test_client_class = PortalClient
    yield app
    with app.app_context():
        from portal.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> PortalClient:
    client = app.test_client()
    assert isinstance(client, PortalClient)
    return client


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


# --- mail ------------------------------------------------------------------------------------


class MailSink:
    """Collects what a real aiosmtpd server receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived; return them all."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        assert len(self.messages) >= count, f"expected {count} emails, got {len(self.messages)}"
        return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def smtp_server(app_config: dict[str, Any]) -> Iterator[Any]:
    """A real SMTP server on a free port; the ``app`` of the same test sends mail to it."""
    from aiosmtpd.controller import Controller

    sink = MailSink()
    # aiosmtpd's start() connects to its own port to check it is up, so port 0 cannot work.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    app_config.update(MAIL_ENABLED=True, SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    sink.port = port  # type: ignore[attr-defined]
    yield sink
    controller.stop()


# --- redis -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server at 127.0.0.1:6379 (a test database, flushed per use by the tests)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        service_missing("Redis at 127.0.0.1:6379", error)
    finally:
        client.close()
    return REDIS_URL


# --- browser ---------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (its own browser download cannot work here)."""
    if not os.path.exists(CHROMIUM):
        service_missing("Debian's chromium", FileNotFoundError(CHROMIUM))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def checked_page(browser: Any, base_url: str, viewport: dict[str, int]) -> Iterator[Any]:
    """A page in a fresh browser context; a script error or a CSP refusal logged while it was
    open fails the test when it closes (a missing resource, such as a refused form's 400, does
    not)."""
    context = browser.new_context(viewport=viewport, base_url=base_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


# --- served apps -----------------------------------------------------------------------------


class LiveServer:
    """A WSGI app served over real HTTP on 127.0.0.1 and a free port, in a thread."""

    def __init__(self, wsgi_app: Any) -> None:
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test's ``app`` served over HTTP; ``live_server.url`` is its base URL."""
    server = LiveServer(app)
    app.config["PORTAL_BASE_URL"] = server.url
    yield server
    server.stop()


# --- accounts --------------------------------------------------------------------------------


@pytest.fixture
def factory(app: Flask) -> Factory:
    """Makes users, tenants, keys and subscriptions in this test's app (tests/factory.py)."""
    return Factory(app)


class AuthActions:
    """Signs up, in and out through the real forms, sending each form's CSRF token."""

    email = "owner@example.com"
    password = PASSWORD

    def __init__(self, client: PortalClient) -> None:
        self.client = client

    def csrf_token(self, path: str = "/login") -> str:
        return self.client.csrf_token(path)

    def post_form(
        self, path: str, data: dict[str, str], *, token_from: str | None = None, **kwargs: Any
    ) -> TestResponse:
        return self.client.post_form(path, data, token_from=token_from, **kwargs)

    def signup(self, email: str | None = None, password: str | None = None) -> TestResponse:
        return self.post_form(
            "/signup", {"email": email or self.email, "password": password or self.password}
        )

    def login(self, email: str | None = None, password: str | None = None) -> TestResponse:
        return self.post_form(
            "/login", {"email": email or self.email, "password": password or self.password}
        )

    def logout(self) -> TestResponse:
        return self.post_form("/logout", {}, token_from="/keys")


@pytest.fixture
def auth(client: PortalClient) -> AuthActions:
    return AuthActions(client)


# --- end auth helper -------------------------------------------------------------------------
