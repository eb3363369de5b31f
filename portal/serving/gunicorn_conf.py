"""Gunicorn settings for ``make serve`` (``--config python:portal.serving.gunicorn_conf``).

Workers, host and port come from WEB_CONCURRENCY, HOST and PORT (see ``production.plan``).
The master applies migrations before it listens, which also imports the portal once; each
worker builds its own app after the fork, so no connection or thread crosses it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from portal.config import ROOT
from portal.serving.production import Refused, apply_defaults, check, migrate, plan

try:
    _plan = plan(os.environ)
except Refused as refusal:
    sys.exit(f"gunicorn refused to start: {refusal}")

wsgi_app = "wsgi:application"
chdir = str(ROOT)
bind = [f"{_plan.host}:{_plan.port}"]
workers = _plan.workers
worker_class = "sync"
# A worker silent for 30 s is stuck and replaced; a stopping one gets 20 s for its last request.
timeout = 30
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# The worker's pid closes each line: which process served a call, when several share a key.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms %(p)s'
# Reset tokens travel in the path: the access log shows them as [redacted].
logger_class = "portal.serving.log_redaction.RedactingGunicornLogger"
# Signals manage this server; a control socket under $HOME would be shared by every instance.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Check again (GUNICORN_CMD_ARGS or ``-w`` can change the worker count ``plan`` gave),
    then migrate: the workers the master forks next find the schema up to date."""
    # /metrics adds up every worker's values from files in this folder: an empty one per start,
    # unless the operator chose one (then it must be emptied before each start). Set before the
    # portal is first imported here, since prometheus_client picks its value class on import.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="continuum-metrics-")
    try:
        check(os.environ, server.cfg.workers)
        apply_defaults(os.environ)
        migrate()
    except Refused as refusal:
        sys.exit(f"gunicorn refused to start: {refusal}")


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges leave /metrics (its counters are kept, as Prometheus wants)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(folder).startswith("continuum-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)


def worker_exit(server: Any, worker: Any) -> None:
    """Flush the worker's pending usage to SQL as it stops, so a SIGTERM loses no counts
    (explicit here rather than left to the flusher's ``atexit`` hook)."""
    from portal.enforcement import enforcement_for

    module = sys.modules.get("wsgi")
    portal = getattr(module, "app", None)
    if portal is not None:  # None: the worker failed before its app was built
        enforcement_for(portal).stop()
