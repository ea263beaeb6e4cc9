"""HTTP routes: thin adapters from requests to the service and back."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sse_starlette import EventSourceResponse

from server.errors import AuthenticationError, ClientGone, EngineUnavailableError, json_response
from server.protocol import ChatCompletionRequest, CompletionRequest
from server.request_id import request_id_of
from server.service import RequestRun, Service

T = TypeVar("T")


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
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


@public.get("/health")
async def health(request: Request) -> Response:
    engine = get_service(request).engine
    await engine.check_health()
    return json_response({"status": "ok", "requests_in_flight": engine.num_unfinished_requests})


@v1.get("/models")
async def models(service: ServiceDep) -> Response:
    return json_response(service.models())


@public.get("/metrics")
async def metrics(request: Request) -> Response:
    if request.app.state.settings.metrics_require_key:
        require_api_key(request)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@v1.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, service: ServiceDep,
                           request: Request) -> Response:
    return await _respond(service.chat(body, request_id_of(request)), body.stream, request)


@v1.post("/completions")
async def completions(body: CompletionRequest, service: ServiceDep, request: Request) -> Response:
    return await _respond(service.completion(body, request_id_of(request)), body.stream, request)


async def _respond(run: RequestRun, stream: bool, request: Request) -> Response:
    request.state.run_started = True
    if stream:
        settings = request.app.state.settings
        # sse-starlette cancels the body on disconnect, which aborts the engine request.
        return EventSourceResponse(run.stream(), ping=settings.keepalive_s, sep="\n",
                                   headers={"Cache-Control": "no-cache"})
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
