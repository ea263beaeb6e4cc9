"""Errors as exceptions, mapped to OpenAI error bodies in one place."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class AhaError(Exception):
    status_code = 500
    error_type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)


class BadRequestError(AhaError):
    status_code = 400
    error_type = "invalid_request_error"


class UnsupportedError(BadRequestError):
    code = "unsupported_parameter"


class ContextLengthError(BadRequestError):
    code = "context_length_exceeded"


class AuthenticationError(AhaError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class NotFoundError(AhaError):
    status_code = 404
    error_type = "not_found_error"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class EngineUnavailableError(AhaError):
    status_code = 503
    error_type = "service_unavailable_error"
    code = "engine_unavailable"


class OverloadedError(AhaError):
    status_code = 429
    error_type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"


class DrainingError(AhaError):
    status_code = 503
    error_type = "service_unavailable_error"
    code = "server_draining"


class BodyTooLargeError(AhaError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class ClientGone(AhaError):
    """The client disconnected before the answer; nginx's 499, read by nobody."""

    status_code = 499
    error_type = "client_closed_request"


def error_body(message: str, error_type: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def json_response(content: Any, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status_code,
                    media_type="application/json", headers=headers)


def exception_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and body for any exception; unknown ones never leak details."""
    if isinstance(exc, AhaError):
        return exc.status_code, exc.body()
    logger.exception("unhandled error", exc_info=exc)
    return 500, error_body("internal server error; see the server log", "server_error")


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    # Of a union's branch errors, an undecodable string is the one that explains.
    first = next((e for e in errors if e.get("type") == "string_unicode"), errors[0])
    loc = [str(p) for p in first.get("loc", ()) if p != "body" and not _is_branch_tag(p)]
    if first.get("type") == "string_unicode":
        return (f"'{'.'.join(loc)}' is not valid text (a lone surrogate escape such as "
                f"\\ud800)", ".".join(loc) or None)
    if first.get("type") == "json_invalid":
        return f"request body is not valid JSON: {first.get('msg')}", None
    param = ".".join(loc) or None
    where = f"'{param}': " if param else ""
    return f"{where}{first.get('msg', 'invalid value')}", param


def _is_branch_tag(part: object) -> bool:
    """pydantic's names of union branches in an error's location ('list[str]', 'str')."""
    return isinstance(part, str) and ("[" in part or "-" in part or part in _TYPE_TAGS)


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})

ENDPOINTS = {"/v1/chat/completions": "chat.completions", "/v1/completions": "completions",
             "/v1/responses": "responses"}


def _count_rejected(request: Request, status: int) -> None:
    if getattr(request.state, "run_started", False):
        return  # the request's own record counted it (aborted, or failed mid-run)
    endpoint = ENDPOINTS.get(request.url.path)
    metrics = getattr(request.app.state, "metrics", None)
    if endpoint is not None and metrics is not None:
        metrics.rejected(endpoint, status)


def install_handlers(app: FastAPI) -> None:
    async def on_aha(request: Request, exc: Exception) -> Response:
        status, body = exception_body(exc)
        _count_rejected(request, status)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return json_response(body, status, headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, param = _validation_message(exc)
        _count_rejected(request, 400)
        return json_response(error_body(message, "invalid_request_error", param), 400)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
            return json_response(error_body(message, "not_found_error", code="not_found"), 404)
        error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return json_response(error_body(str(exc.detail), error_type), exc.status_code)

    async def on_any(_: Request, exc: Exception) -> Response:
        status, body = exception_body(exc)
        return json_response(body, status)

    app.add_exception_handler(AhaError, on_aha)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_any)
