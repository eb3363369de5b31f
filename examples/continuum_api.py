"""An example CONTINUUM API guarded by the portal's enforcement decorators.

Standalone: ``python examples/continuum_api.py`` serves it on 127.0.0.1:$API_PORT (default 5001)
against the portal's database and settings (``.env``). ``make run`` serves it inside the portal's
process at http://127.0.0.1:5000/api/..., sharing the portal's counters.

The memories themselves are kept in this process only: they stand in for CONTINUUM's real memory
store. What the portal meters (calls, storage, federation contributions) is durable.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from dotenv import load_dotenv
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException

from portal.config import ROOT, Config
from portal.enforcement import (
    Enforcement,
    StorageSnapshot,
    current_caller,
    get_storage_usage,
    init_enforcement,
    metered,
    record_federation_contribution,
    record_storage_usage,
    requires_feature,
    storage_quota,
)
from portal.errors import PortalError
from portal.web.hostile_input import init_json

MAX_MEMORY_CHARS = 10_000
SEARCH_RESULTS = 10

bp = Blueprint("continuum_api", __name__)


class MemoryBook:
    """Each tenant's memories, in this process (a stand-in for the real memory store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._memories: dict[int, list[dict[str, Any]]] = defaultdict(list)

    def add(self, tenant_id: int, content: str) -> dict[str, Any]:
        with self._lock:
            memories = self._memories[tenant_id]
            memory = {"id": len(memories) + 1, "content": content}
            memories.append(memory)
            return memory

    def all(self, tenant_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._memories.get(tenant_id, ()))


def _book() -> MemoryBook:
    book: MemoryBook = current_app.extensions["continuum_memories"]
    return book


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object as the request body.")
    return body


@bp.get("/health")
def health() -> Response:
    return jsonify(status="ok")


@bp.get("/docs")
def docs() -> Response:
    """What each route does and needs; like /health, never metered and open without a key."""
    return jsonify(
        authentication="Authorization: Bearer <key> or X-API-Key: <key>, from the portal's /keys",
        upgrade_url="/billing/upgrade",
        routes={
            "GET /api/memories": "list your memories and storage usage",
            "POST /api/memories": "add a memory {content}; counts against the storage quota",
            "GET /api/search?q=...": "semantic search (feature semantic_search)",
            "POST /api/federation": "share memories {memory_ids} (feature federation)",
            "GET /api/realtime": "a server-sent event stream (feature realtime_sync)",
            "GET /health": "liveness, unmetered",
            "GET /docs": "this page, unmetered",
        },
    )


@bp.get("/api/memories")
@metered
def list_memories() -> Response:
    caller = current_caller()
    return jsonify(
        memories=_book().all(caller.id)[-100:],
        storage=get_storage_usage(caller).as_body(),
    )


def _incoming_memory() -> StorageSnapshot | None:
    """What a POST /api/memories adds: one memory, its embedding and its content's bytes."""
    body = request.get_json(silent=True)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        return None  # the view answers 400
    return StorageSnapshot(memories=1, embeddings=1, bytes_used=len(content.encode()))


@bp.post("/api/memories")
@metered
@storage_quota(incoming=_incoming_memory)
def add_memory() -> tuple[Response, int]:
    content = _json_body().get("content")
    if not isinstance(content, str) or not content.strip():
        raise BadRequest("'content' must be a non-empty string.")
    if len(content) > MAX_MEMORY_CHARS:
        raise BadRequest(f"'content' is limited to {MAX_MEMORY_CHARS} characters.")
    caller = current_caller()
    # Counted first: without the database this raises (a 503) before anything is stored, so a
    # memory is never kept uncounted. Should storing fail after it, the count is taken back.
    counts = {"memories": 1, "embeddings": 1, "bytes_used": len(content.encode())}
    usage = record_storage_usage(caller, **counts, delta=True)
    try:
        memory = _book().add(caller.id, content)
    except Exception:
        record_storage_usage(caller, **{name: -n for name, n in counts.items()}, delta=True)
        raise
    return jsonify(memory=memory, storage=usage.as_body()), 201


@bp.get("/api/search")
@metered
@requires_feature("semantic_search")
def search() -> Response:
    words = set(request.args.get("q", "").lower().split())
    if not words:
        raise BadRequest("Pass what to look for as ?q=...")
    scored = [
        (len(words & set(memory["content"].lower().split())), memory)
        for memory in _book().all(current_caller().id)
    ]
    hits = [memory for score, memory in sorted(scored, key=lambda s: -s[0]) if score]
    return jsonify(results=hits[:SEARCH_RESULTS])


@bp.post("/api/federation")
@metered
@requires_feature("federation")
def federate() -> tuple[Response, int]:
    memory_ids = _json_body().get("memory_ids")
    if not isinstance(memory_ids, list) or not all(isinstance(i, int) for i in memory_ids):
        raise BadRequest("'memory_ids' must be a list of memory ids.")
    caller = current_caller()
    known = {memory["id"] for memory in _book().all(caller.id)}
    shared = sorted(set(memory_ids) & known)
    record_federation_contribution(caller, len(shared))
    return jsonify(shared=shared, priority=caller.limits.federation_priority), 202


@bp.get("/api/realtime")
@metered
@requires_feature("realtime_sync")
def realtime() -> Response:
    """A short server-sent event stream; the concurrency slot is held until it ends."""
    memories = _book().all(current_caller().id)

    def events() -> Iterator[str]:
        for memory in memories[-20:]:
            yield f"event: memory\ndata: {memory['id']}\n\n"
        yield f"event: synced\ndata: {len(memories)}\n\n"

    return Response(events(), mimetype="text/event-stream")


def _json_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.description), error.code or 500


def _no_sniffing(response: Response) -> Response:
    """Every answer is JSON or an event stream: browsers must never guess another type."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _portal_error(error: PortalError) -> tuple[Response, int]:
    """The enforcement functions' errors (a 503 when the database is unreachable)."""
    return jsonify(error=error.message), error.status_code


def create_api_app(
    config: Mapping[str, Any] | None = None, *, enforcement: Enforcement | None = None
) -> Flask:
    """The example API on the portal's settings; ``enforcement`` shares a portal's counters."""
    load_dotenv(ROOT / ".env", override=False)
    app = Flask("continuum_api")
    app.config.from_mapping(Config().as_dict())
    if config:
        app.config.from_mapping(config)
    init_json(app)  # too deep or unstorable JSON is a 400 before any view reads it
    init_enforcement(app, share_with=enforcement)
    app.extensions["continuum_memories"] = MemoryBook()
    app.register_error_handler(HTTPException, _json_error)
    app.register_error_handler(PortalError, _portal_error)
    app.after_request(_no_sniffing)
    app.register_blueprint(bp)
    return app


def main() -> None:
    app = create_api_app()
    # A TERM signal becomes a normal exit, so the usage flush registered with atexit runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app.run("127.0.0.1", int(os.environ.get("API_PORT", "5001")), threaded=True)


if __name__ == "__main__":
    main()
