"""The example CONTINUUM API on FastAPI, guarded by the portal's ASGI enforcement: the same
routes and limits as the Flask example (``continuum_api.py``).

Standalone: ``.venv/bin/python examples/continuum_fastapi.py`` serves it with uvicorn on
127.0.0.1:$API_PORT (default 5002) against the portal's database and settings (``.env``), so a
key made in the portal works here at once. FastAPI's own docs are at /docs.

The memories are kept in this process only (a stand-in for CONTINUUM's real memory store);
what the portal meters (calls, storage, federation contributions) is durable. The handlers are
plain ``def``: FastAPI runs them in its threadpool, so their SQL never blocks the event loop.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from dotenv import load_dotenv
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from portal.config import ROOT, Config
from portal.enforcement import (
    Enforcement,
    StorageSnapshot,
    get_storage_usage,
    record_federation_contribution,
    record_storage_usage,
)
from portal.enforcement.asgi import (
    BillingMiddleware,
    FeatureAccessMiddleware,
    current_caller,
    install,
    storage_quota,
)
from portal.enforcement.lifecycle import ApiCaller
from portal.errors import PortalError

MAX_MEMORY_CHARS = 10_000
SEARCH_RESULTS = 10
FEATURES = {
    "/api/search": "semantic_search",
    "/api/federation": "federation",
    "/api/realtime": "realtime_sync",
}


class MemoryBook:
    """Each tenant's memories, in this process (as in the Flask example, which this one must
    not import: it loads Flask)."""

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


class NewMemory(BaseModel):
    content: str


class Federation(BaseModel):
    memory_ids: list[int]


async def incoming_memory(request: Request) -> StorageSnapshot | None:
    """What a POST /api/memories adds: one memory, its embedding and its content's bytes (as
    the Flask example counts it; an unreadable body is the handler's 422)."""
    try:
        body = await request.json()
    except ValueError:
        return None
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        return None
    return StorageSnapshot(memories=1, embeddings=1, bytes_used=len(content.encode()))


class NoSniffing:
    """Every answer is JSON or an event stream: browsers must never guess another type. A pure
    ASGI middleware (``@app.middleware("http")`` would run each request through Starlette's
    ``BaseHTTPMiddleware``: an extra task and memory streams per call, about a third of this
    app's throughput in bench (e))."""

    HEADER = (b"x-content-type-options", b"nosniff")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sniff_proof_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                kept = [pair for pair in headers if pair[0].lower() != self.HEADER[0]]
                message["headers"] = [*kept, self.HEADER]
            await send(message)

        await self.app(scope, receive, sniff_proof_send)


#: The caller, as the handlers take it (a write checked against the storage quota first).
Caller = Annotated[ApiCaller, Depends(current_caller)]
Writer = Annotated[ApiCaller, Depends(storage_quota(incoming_memory))]


def create_app(
    settings: Mapping[str, Any] | None = None, *, enforcement: Enforcement | None = None
) -> FastAPI:
    """The example API on ``settings`` (default: the environment and the portal's ``.env``);
    ``enforcement`` shares a runtime (the tests share the portal's)."""
    if settings is None and enforcement is None:
        load_dotenv(ROOT / ".env", override=False)
        settings = Config().as_dict()  # the portal's own reading of its environment
    app = FastAPI(title="CONTINUUM API (example)")

    @app.exception_handler(PortalError)
    def portal_error(request: Request, error: PortalError) -> JSONResponse:
        """The enforcement functions' errors (a 503 when the database is unreachable)."""
        return JSONResponse({"error": error.message}, status_code=error.status_code)

    install(app, settings, enforcement=enforcement)
    book = MemoryBook()
    # Added last = outermost: Billing checks the feature gate beneath it before admitting.
    app.add_middleware(FeatureAccessMiddleware, feature_map=FEATURES)
    app.add_middleware(BillingMiddleware)
    app.add_middleware(NoSniffing)  # outermost: the enforcement's refusals get it too

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/memories")
    def list_memories(caller: Caller) -> dict[str, Any]:
        return {
            "memories": book.all(caller.id)[-100:],
            "storage": get_storage_usage(caller).as_body(),
        }

    @app.post("/api/memories", status_code=201)
    def add_memory(memory: NewMemory, caller: Writer) -> dict[str, Any]:
        content = memory.content
        if not content.strip():
            raise HTTPException(400, "'content' must be a non-empty string.")
        if len(content) > MAX_MEMORY_CHARS:
            raise HTTPException(400, f"'content' is limited to {MAX_MEMORY_CHARS} characters.")
        # Counted first, so a memory is never kept uncounted (see continuum_api.add_memory).
        counts = {"memories": 1, "embeddings": 1, "bytes_used": len(content.encode())}
        usage = record_storage_usage(caller, **counts, delta=True)
        try:
            added = book.add(caller.id, content)
        except Exception:
            record_storage_usage(caller, **{name: -n for name, n in counts.items()}, delta=True)
            raise
        return {"memory": added, "storage": usage.as_body()}

    @app.get("/api/search")
    def search(caller: Caller, q: str = "") -> dict[str, Any]:
        words = set(q.lower().split())
        if not words:
            raise HTTPException(400, "Pass what to look for as ?q=...")
        scored = [
            (len(words & set(memory["content"].lower().split())), memory)
            for memory in book.all(caller.id)
        ]
        hits = [memory for score, memory in sorted(scored, key=lambda s: -s[0]) if score]
        return {"results": hits[:SEARCH_RESULTS]}

    @app.post("/api/federation", status_code=202)
    def federate(body: Federation, caller: Caller) -> dict[str, Any]:
        known = {memory["id"] for memory in book.all(caller.id)}
        shared = sorted(set(body.memory_ids) & known)
        record_federation_contribution(caller, len(shared))
        return {"shared": shared, "priority": caller.limits.federation_priority}

    @app.get("/api/realtime")
    def realtime(caller: Caller) -> StreamingResponse:
        """A short server-sent event stream; the concurrency slot is held until it ends."""
        memories = book.all(caller.id)

        def events() -> Iterator[str]:
            for memory in memories[-20:]:
                yield f"event: memory\ndata: {memory['id']}\n\n"
            yield f"event: synced\ndata: {len(memories)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def main() -> None:
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("API_PORT", "5002")))


if __name__ == "__main__":
    main()
