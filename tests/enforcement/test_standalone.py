"""The enforcement library on its own: importing it loads no web framework, and a runtime built
from a plain mapping admits and meters a call with nothing but SQLAlchemy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import portal.enforcement
from portal.enforcement import Enforcement
from portal.enforcement.settings import Settings
from portal.models import ApiKey, UsageCounter
from tests.factory import Account

ROOT = Path(__file__).resolve().parents[2]
#: What the library the CONTINUUM API imports must not drag in.
WEB_MODULES = {
    "flask",
    "flask_sqlalchemy",
    "flask_login",
    "flask_wtf",
    "wtforms",
    "flask_limiter",
    "flask_migrate",
    "alembic",
}

IMPORT_ONLY = "import json, sys; import portal.enforcement; print(json.dumps(sorted(sys.modules)))"
#: A whole call, framework-free: key -> tenant -> admission -> release -> shutdown flush.
ONE_CALL = """
import json, sys
from portal.enforcement import API_CALLS, Enforcement
enforcement = Enforcement.from_settings({"DATABASE_URL": sys.argv[1], "REDIS_URL": ""})
entry = enforcement.directory.key(sys.argv[2])
policy = enforcement.directory.policy(entry.tenant_id)
decision, admission = enforcement.admit(policy, [API_CALLS])
enforcement.release(entry.tenant_id, admission.lease)
enforcement.note_key_used(entry.key_id)
enforcement.stop()
print(json.dumps({"status": decision.status, "tier": policy.tier, "modules": sorted(sys.modules)}))
"""


def fresh_interpreter(code: str, *args: str) -> str:
    """Run ``code`` in a new Python with this checkout first on its path; returns its stdout."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def web_modules_in(modules: list[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in WEB_MODULES}


def test_importing_enforcement_loads_no_web_framework() -> None:
    modules = json.loads(fresh_interpreter(IMPORT_ONLY))
    assert "portal.enforcement" in modules
    assert web_modules_in(modules) == set()
    assert "redis" not in modules  # loaded only when REDIS_URL asks for it


@pytest.mark.both_dbs
def test_a_runtime_from_settings_admits_and_meters_without_flask(
    app_config: dict[str, Any], make_account: Callable[..., Account]
) -> None:
    account = make_account("pro")
    url = app_config["SQLALCHEMY_DATABASE_URI"]
    result = json.loads(fresh_interpreter(ONE_CALL, url, account.key))
    assert (result["status"], result["tier"]) == (200, "pro")
    assert web_modules_in(result["modules"]) == set()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            calls = connection.scalar(
                sa.select(UsageCounter.value).where(
                    UsageCounter.tenant_id == account.tenant_id, UsageCounter.metric == "api_calls"
                )
            )
            used = connection.scalar(
                sa.select(ApiKey.last_used_at).where(ApiKey.id == account.key_id)
            )
    finally:
        engine.dispose()
    assert calls == 1  # flushed at stop()
    assert used is not None


def test_the_flask_names_resolve_on_first_use() -> None:
    from portal.enforcement import flask as adapter

    assert portal.enforcement.metered is adapter.metered
    assert portal.enforcement.init_enforcement is adapter.init_enforcement
    with pytest.raises(AttributeError, match="no_such_name"):
        portal.enforcement.no_such_name  # noqa: B018


def test_settings_come_from_any_mapping() -> None:
    settings = Settings.from_mapping(
        {
            "DATABASE_URL": "sqlite:///x.db",
            "REDIS_URL": "redis://127.0.0.1:6379/5",
            "ENFORCEMENT_FAIL_MODE": "open",
            "USAGE_FLUSH_SECONDS": "0.5",  # strings, as os.environ gives them
            "API_KEY_LAST_USED_FLUSH_SECONDS": 10,
        }
    )
    assert settings.database_url == "sqlite:///x.db"
    assert settings.redis_url == "redis://127.0.0.1:6379/5"
    assert settings.fail_mode == "open"
    assert (settings.usage_flush_seconds, settings.last_used_flush_seconds) == (0.5, 10.0)
    defaults = Settings.from_mapping({"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db", "REDIS_URL": ""})
    assert defaults.database_url == "sqlite:///x.db"
    assert (defaults.redis_url, defaults.fail_mode, defaults.lease_seconds) == ("", "closed", 30.0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ENFORCEMENT_FAIL_MODE": "sometimes"}, "ENFORCEMENT_FAIL_MODE"),
        ({"USAGE_FLUSH_SECONDS": "soon"}, "USAGE_FLUSH_SECONDS"),
        ({"USAGE_FLUSH_SECONDS": "0"}, "USAGE_FLUSH_SECONDS"),
        ({"API_KEY_LAST_USED_FLUSH_SECONDS": "inf"}, "API_KEY_LAST_USED_FLUSH_SECONDS"),
        ({"ENFORCEMENT_LEASE_SECONDS": "-1"}, "ENFORCEMENT_LEASE_SECONDS"),
        (
            {"DATABASE_URL": "sqlite:///a.db", "SQLALCHEMY_DATABASE_URI": "sqlite:///b.db"},
            "different databases",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_by_name(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_mapping(settings)


def test_a_runtime_needs_a_database() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        Enforcement.from_settings({"REDIS_URL": ""})
