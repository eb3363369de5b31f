"""The hostile-input walk of ``test_fuzz_routes.py`` on PostgreSQL, in a file of its own so a
second test worker runs it beside the SQLite walk."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.factory import Factory
from tests.test_fuzz_routes import _limiter_back_on, app_config  # noqa: F401 (fixtures)
from tests.test_fuzz_routes import (
    test_no_route_answers_hostile_input_with_a_5xx_or_a_partial_write as walk_every_route,
)


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_no_route_answers_hostile_input_with_a_5xx_or_a_partial_write_on_postgresql(
    app: Flask,
    app_config: dict[str, Any],  # noqa: F811 - the fixture imported above
    factory: Factory,
) -> None:
    walk_every_route(app, app_config, factory)
