"""App factory and lifespan: the engine starts with the app and stops with it."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from server import __version__
from server.admission import Admission, AdmissionMiddleware
from server.engine import Engine
from server.errors import install_handlers
from server.metrics import Metrics
from server.prompts import PromptRenderer
from server.request_id import RequestIdMiddleware
from server.routes import PLAYGROUND_DIR, playground, public, v1
from server.service import Service
from server.settings import Settings

logger = logging.getLogger(__name__)


def _freeze_startup_heap() -> None:
    """Moves the start-up heap (torch, transformers, the tokenizer) out of the GC's reach.

    Without it every full collection walks millions of static objects, pausing the
    event loop mid-stream; vLLM's own server does the same after start-up.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(settings.engine_kwargs())
        renderer = PromptRenderer(settings.model, settings.think_start, settings.think_end)
        try:
            engine.start()
            service = Service(settings, engine, renderer, app.state.metrics)
            app.state.service = service
            markers = renderer.markers
            logger.info("serving %s as '%s' (context %d tokens, think markers %s)",
                        settings.model, settings.model_name, engine.max_model_len,
                        f"{markers.start!r}/{markers.end!r}" if markers else "none")
            logger.info("sampling defaults for unset request fields: %s", service.sampling_defaults)
            _freeze_startup_heap()
            yield
        finally:
            app.state.service = None
            await asyncio.to_thread(engine.shutdown)

    app = FastAPI(title="Aha", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.service = None
    app.state.admission = Admission(settings.max_concurrent_requests,
                                    settings.max_queued_requests)
    app.state.metrics = Metrics(settings.model_name, app.state.admission)
    app.add_middleware(AdmissionMiddleware, admission=app.state.admission,
                       max_body_bytes=settings.max_request_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # outermost: its header is on 413s and 429s too
    install_handlers(app)
    app.include_router(public)
    app.include_router(v1)
    if settings.playground:
        app.include_router(playground)
        app.mount("/playground/assets", StaticFiles(directory=PLAYGROUND_DIR), name="assets")
    _document_400_not_422(app)
    return app


def _document_400_not_422(app: FastAPI) -> None:
    """FastAPI documents a 422 for every body; this server answers 400 (errors.py)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
