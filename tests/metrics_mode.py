"""The metrics mode (prometheus_client's in-process or multiprocess values) kept per test:
``tests/conftest.py`` uses ``metrics_mode_per_test`` for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

#: prometheus_client's switch to multiprocess mode (gunicorn's ``on_starting`` sets it).
METRICS_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


@contextmanager
def metrics_mode_kept() -> Iterator[None]:
    """Whatever the block does to the metrics mode is undone at its end: the environment
    variables come back, and when they changed, ``portal.metrics`` forgets its objects and
    prometheus_client chooses its value class again. Without it, a test that calls gunicorn's
    ``on_starting`` in process leaves every later test of that process (and the processes they
    start) writing metrics to a folder that a served gunicorn deletes when it stops."""
    saved = {name: os.environ.get(name) for name in METRICS_ENV}
    try:
        yield
    finally:
        changed = False
        for name, value in saved.items():
            if os.environ.get(name) != value:
                changed = True
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        if changed:
            from portal import metrics

            metrics.reset()


@pytest.fixture(autouse=True)
def metrics_mode_per_test() -> Iterator[None]:
    with metrics_mode_kept():
        yield
