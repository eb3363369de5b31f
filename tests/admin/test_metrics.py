"""/metrics: Prometheus text behind a bearer token, in one process and across processes."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from examples.continuum_api import create_api_app
from portal import metrics
from portal.enforcement import enforcement_for
from portal.models import utcnow
from tests.factory import Factory
from tests.metrics_mode import metrics_mode_kept

TOKEN = "scrape-token-for-tests"
ROOT = Path(__file__).resolve().parent.parent.parent


def scrape(app: Flask, token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return app.test_client().get("/metrics", headers=headers)


def value(text: str, sample: str) -> float:
    """The value of one sample line (``name{labels}``), 0 when absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_no_token_configured_is_not_found(app: Flask) -> None:
    assert scrape(app).status_code == 404


def test_a_wrong_or_missing_token_is_refused(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    for token in (None, "nope", TOKEN + "x"):
        answer = scrape(app, token)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_metrics_move(app: Flask, factory: Factory) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    before = scrape(app).get_data(as_text=True)
    app.test_client().get("/no-such-page")
    metrics.api_call(429, "free", "minute", 0.0004)
    metrics.api_call(200, "pro", None, 0.0002)
    metrics.webhook_event("duplicate")
    metrics.usage_flushed(12)
    metrics.redis_breaker(True)
    account = factory.account("pro")
    factory.meter_report(account.tenant_id, utcnow(), 100)
    answer = scrape(app)
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    after = answer.get_data(as_text=True)

    def moved(sample: str) -> float:
        return value(after, sample) - value(before, sample)

    assert moved('continuum_http_requests_total{status="404"}') == 1
    assert moved('continuum_rate_limited_total{limit="minute",tier="free"}') == 1
    assert moved('continuum_api_calls_total{status="200"}') == 1
    assert moved("continuum_enforcement_seconds_count") == 2
    assert moved('continuum_webhook_events_total{outcome="duplicate"}') == 1
    # Other tests' runtimes may still flush (empty) batches meanwhile: count only 11..100 rows.
    in_bucket = 'continuum_usage_flush_batch_rows_bucket{le="%s"}'
    assert moved(in_bucket % "100.0") - moved(in_bucket % "10.0") == 1
    assert value(after, "continuum_redis_breaker_open") == 1
    assert value(after, "continuum_meter_report_backlog") == 1
    assert value(after, "continuum_meter_report_lag_seconds") >= 0
    metrics.redis_breaker(False)


WORKER = """
import sys
from portal import metrics
from portal.models import utcnow
metrics.api_call(429, "pro", "day", 0.001)
metrics.webhook_event("processed")
"""


def test_multiprocess_mode_adds_up_every_process(
    tmp_path: Path, app_config: dict[str, Any]
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER], env=env) for _ in range(3)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0]  # each counted once
    script = (
        "import json, sys\n"
        "from portal import create_app\n"
        "app = create_app(json.loads(sys.argv[1]))\n"
        "answer = app.test_client().get('/metrics', headers={'Authorization': 'Bearer t'})\n"
        "print(answer.status_code)\n"
        "print(answer.get_data(as_text=True))\n"
    )
    config = {**app_config, "METRICS_TOKEN": "t", "SECRET_KEY": "x"}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(config)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    status, _, text = result.stdout.partition("\n")
    assert status == "200"
    assert value(text, 'continuum_rate_limited_total{limit="day",tier="pro"}') == 3
    assert value(text, 'continuum_webhook_events_total{outcome="processed"}') == 3


def test_importing_metrics_loads_no_prometheus() -> None:
    """The enforcement library imports this module: it must stay free to import."""
    code = "import sys, portal.metrics; print('prometheus_client' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "False"


def broken_metrics() -> metrics._Metrics:
    raise OSError("No such file or directory: '/tmp/continuum-metrics-gone/counter_1.db'")


def test_a_broken_metrics_backend_never_fails_a_request(
    app: Flask,
    app_config: dict[str, Any],
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every per-call metrics function fails; the portal and the API still answer, and the
    failure is logged once per function, not once per call."""
    monkeypatch.setattr(metrics, "_m", broken_metrics)
    monkeypatch.setattr(metrics, "_failures", {})
    api = create_api_app(app_config, enforcement=enforcement_for(app)).test_client()
    account = factory.account("free", key=True)
    with caplog.at_level(logging.ERROR, logger="portal.metrics"):
        answers = [api.get("/api/memories", headers=account.headers).status_code for _ in range(11)]
        assert answers == [200] * 10 + [429]
        assert app.test_client().get("/login").status_code == 200
        enforcement_for(app).flusher.flush()
    failed = [record.getMessage() for record in caplog.records]
    assert failed.count("metrics: api_call failed; the request goes on uncounted") == 1
    assert "metrics: request_finished failed; the request goes on uncounted" in failed
    enforcement_for(app).stop()


def test_a_test_that_switches_to_multiprocess_mode_leaves_the_next_in_process_mode(
    app: Flask, tmp_path: Path
) -> None:
    """What gunicorn's ``on_starting`` does in process (the environment variable), then what
    its ``on_exit`` does (the folder deleted): after ``metrics_mode_kept`` this process counts in
    its own registry again."""
    app.config["METRICS_TOKEN"] = TOKEN
    folder = tmp_path / "multiprocess"
    folder.mkdir()
    with metrics_mode_kept():
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        metrics.reset()
        metrics.webhook_event("failed")
        assert any(folder.iterdir())  # written to the folder: multiprocess mode
        shutil.rmtree(folder)
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    sample = 'continuum_webhook_events_total{outcome="failed"}'
    before = value(scrape(app).get_data(as_text=True), sample)
    metrics.webhook_event("failed")
    assert value(scrape(app).get_data(as_text=True), sample) - before == 1
