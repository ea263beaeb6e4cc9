"""Admission: body size, concurrency and queue limits, and the drain on SIGTERM.

Pure ASGI middleware, like request_id.py: a slot is taken before the app runs and
given back when the app's call returns, which for a stream is after its last
byte (or the client's disconnect) — so no path through a route can keep a slot.
Starlette has no body-size limit and no load shedding, hence this small module.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import (
    ENDPOINTS,
    AhaError,
    BodyTooLargeError,
    DrainingError,
    OverloadedError,
    error_body,
    json_response,
)

logger = logging.getLogger(__name__)

@dataclass(slots=True)
class Admission:
    """Counts requests running and waiting for a slot; refuses past the limits."""

    max_running: int
    max_waiting: int
    retry_after_s: int = 1
    num_running: int = 0
    num_waiting: int = 0
    draining: bool = False
    _slots: asyncio.Semaphore = field(init=False)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.max_running)
        self._idle.set()

    @property
    def is_ready(self) -> bool:
        return not self.draining and self.num_waiting < self.max_waiting

    async def acquire(self) -> None:
        if self.draining:
            raise DrainingError("the server is shutting down; retry on another replica")
        if self._slots.locked() and self.num_waiting >= self.max_waiting:
            raise OverloadedError(
                f"the server is at capacity ({self.num_running} requests running, "
                f"{self.num_waiting} waiting); retry after {self.retry_after_s} s")
        self.num_waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.num_waiting -= 1
        self.num_running += 1
        self._idle.clear()

    def release(self) -> None:
        self.num_running -= 1
        self._slots.release()
        if self.num_running == 0 and self.num_waiting == 0:
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """True when every admitted request finished within `timeout_s`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except TimeoutError:
            return False


async def _send_error(exc: AhaError, scope: Scope, receive: Receive, send: Send,
                      headers: dict[str, str] | None = None) -> None:
    metrics = getattr(scope["app"].state, "metrics", None)
    if metrics is not None:
        metrics.shed(exc.code or exc.error_type, scope["path"], exc.status_code)
    response = json_response(exc.body(), exc.status_code, headers)
    await response(scope, receive, send)


class AdmissionMiddleware:
    """Body-size limit on every POST; slots and drain on the generation routes."""

    def __init__(self, app: ASGIApp, admission: Admission, max_body_bytes: int) -> None:
        self.app = app
        self.admission = admission
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        replay = _replay(body, receive)
        if scope["path"] not in ENDPOINTS:
            await self.app(scope, replay, send)
            return
        try:
            await self.admission.acquire()
        except OverloadedError as exc:
            await _send_error(exc, scope, receive, send,
                              {"Retry-After": str(self.admission.retry_after_s)})
            return
        except DrainingError as exc:
            await _send_error(exc, scope, receive, send, {"Connection": "close"})
            return
        try:
            await self.app(scope, replay, send)
        finally:
            self.admission.release()

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None after answering 413 (never reading past the limit)."""
        declared = dict(scope["headers"]).get(b"content-length", b"")
        limit = self.max_body_bytes
        too_large = BodyTooLargeError(f"the request body is larger than the server's limit "
                                      f"of {limit} bytes (--max-request-body-bytes)")
        if declared.isdigit() and int(declared) > limit:
            await _send_error(too_large, scope, receive, send, {"Connection": "close"})
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_error(too_large, scope, receive, send, {"Connection": "close"})
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then the real messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def readiness_body(admission: Admission, *, engine_ready: bool) -> tuple[int, dict[str, object]]:
    """Status and body of GET /ready: 503 while starting, draining or over the queue limit."""
    state: dict[str, object] = {"running": admission.num_running,
                                "waiting": admission.num_waiting}
    if not engine_ready:
        return 503, error_body("the engine is starting", "service_unavailable_error",
                               code="engine_unavailable") | state
    if admission.draining:
        return 503, error_body("the server is draining", "service_unavailable_error",
                               code="server_draining") | state
    if not admission.is_ready:
        return 503, error_body("the request queue is full", "service_unavailable_error",
                               code="rate_limit_exceeded") | state
    return 200, {"status": "ready"} | state


class Drainable(Protocol):
    async def abort_all(self) -> int: ...


async def drain(admission: Admission, engine: Drainable | None, timeout_s: float) -> None:
    """Stops admitting, lets running requests finish for `timeout_s`, aborts the rest.

    Aborted requests end with an error (an error event and [DONE] on a stream).
    """
    admission.draining = True
    logger.info("draining: %d requests running, up to %.0f s", admission.num_running, timeout_s)
    if await admission.wait_idle(timeout_s) or engine is None:
        return
    num_aborted = await engine.abort_all()
    logger.warning("drain timeout: aborted %d engine requests", num_aborted)
    await admission.wait_idle(ABORT_GRACE_S)


ABORT_GRACE_S = 10.0  # for aborted streams to send their error event and [DONE]
