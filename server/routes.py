"""HTTP routes: thin adapters from requests to the service and back."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sse_starlette import EventSourceResponse

from server.admission import readiness_body
from server.errors import AuthenticationError, ClientGone, EngineUnavailableError, json_response
from server.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ErrorResponse,
    ResponsesRequest,
)
from server.request_id import request_id_of
from server.service import RequestRun, Service

T = TypeVar("T")

_ERROR = {"model": ErrorResponse}
V1_ERRORS: dict[int | str, dict[str, Any]] = {401: _ERROR, 404: _ERROR, 503: _ERROR}
GENERATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A completion (JSON), or with `stream` an SSE stream of chunks",
          "content": {"application/json": {}, "text/event-stream": {}}},
    **{status: _ERROR for status in (400, 413, 429)},
}


def get_service(request: Request) -> Service:
    service: Service | None = getattr(request.app.state, "service", None)
    if service is None:
        raise EngineUnavailableError("the engine is starting; try again shortly")
    return service


def require_api_key(request: Request) -> None:
    keys: list[str] = request.app.state.settings.api_key
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    if not any(secrets.compare_digest(token.encode(), k.encode()) for k in keys):
        raise AuthenticationError("invalid API key")


ServiceDep = Annotated[Service, Depends(get_service)]
public = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=V1_ERRORS)


PLAYGROUND_DIR = Path(__file__).resolve().parent / "playground"
playground = APIRouter(include_in_schema=False)
# The page loads only its own files and talks only to this server.
PAGE_HEADERS = {"Cache-Control": "no-cache",
                "Content-Security-Policy": "default-src 'self'; style-src 'self'; "
                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"}


@playground.get("/")
@playground.get("/playground")
async def playground_page() -> FileResponse:
    """The playground: public, like llama.cpp's; its API requests need the key."""
    return FileResponse(PLAYGROUND_DIR / "index.html", headers=PAGE_HEADERS)


@public.get("/health", responses={503: _ERROR})
async def health(request: Request) -> Response:
    engine = get_service(request).engine
    await engine.check_health()
    return json_response({"status": "ok", "requests_in_flight": engine.num_unfinished_requests})


@public.get("/ready", responses={503: _ERROR})
async def ready(request: Request) -> Response:
    """Readiness for orchestrators: 503 while starting, draining or over the queue limit."""
    service: Service | None = getattr(request.app.state, "service", None)
    status, body = readiness_body(request.app.state.admission,
                                  engine_ready=service is not None and service.engine.is_ready)
    return json_response(body, status)


@v1.get("/models")
async def models(service: ServiceDep) -> Response:
    return json_response(service.models())


@public.get("/metrics", responses={200: {"description": "Prometheus text format",
                                          "content": {CONTENT_TYPE_LATEST: {}}},
                                     401: _ERROR})
async def metrics(request: Request) -> Response:
    if request.app.state.settings.metrics_require_key:
        require_api_key(request)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@v1.post("/chat/completions", responses=GENERATION_RESPONSES)
async def chat_completions(body: ChatCompletionRequest, service: ServiceDep,
                           request: Request) -> Response:
    return await _respond(service.chat(body, request_id_of(request)), body.stream, request)


@v1.post("/completions", responses=GENERATION_RESPONSES)
async def completions(body: CompletionRequest, service: ServiceDep, request: Request) -> Response:
    return await _respond(service.completion(body, request_id_of(request)), body.stream, request)


@v1.post("/responses", responses={
    **GENERATION_RESPONSES,
    200: {"description": "A response (JSON), or with `stream` an SSE stream of Responses "
                         "events", "content": {"application/json": {}, "text/event-stream": {}}}})
async def responses(body: ResponsesRequest, service: ServiceDep, request: Request) -> Response:
    """The OpenAI Responses API, stateless: thinking as a `reasoning` item, the answer as a
    `message` item."""
    return await _respond(service.responses(body, request_id_of(request)), body.stream, request)


# nosniff: a browser may otherwise hold a stream's first bytes back to sniff its type;
# X-Accel-Buffering: nginx in front must pass events on as they come.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                  "X-Accel-Buffering": "no"}


async def _respond(run: RequestRun, stream: bool, request: Request) -> Response:
    request.state.run_started = True
    if stream:
        settings = request.app.state.settings
        # sse-starlette cancels the body on disconnect, which aborts the engine request.
        return EventSourceResponse(run.stream(), ping=settings.keepalive_s, sep="\n",
                                   headers=STREAM_HEADERS)
    return json_response(await _until_disconnect(run.collect(), request))


async def _until_disconnect(work: Awaitable[T], request: Request) -> T:
    """Runs `work`, cancelling it (and so the engine request) if the client leaves."""
    task: asyncio.Task[Any] = asyncio.ensure_future(work)
    watcher = asyncio.create_task(_wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise ClientGone("the client closed the connection")
    return task.result()  # type: ignore[no-any-return]


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
