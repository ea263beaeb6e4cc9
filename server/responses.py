"""The OpenAI Responses API on the chat spine.

A Responses request is a chat request in another wire shape: `as_chat_request`
turns it into one, the same `RequestRun` (budget controller, splitter, metrics,
disconnect handling) runs it, and `ResponsesEncoder` turns the same choice
events into Responses events: a `reasoning` output item with the thinking, then
a `message` item with the answer. Events follow the order vLLM's and OpenAI's
servers send, each with a `sequence_number` and an SSE `event:` line; there is
no `[DONE]`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from pydantic import ValidationError

from server.errors import BadRequestError, exception_body
from server.generation import ChoiceEvent, ChoiceTotal, Usage
from server.protocol import ChatCompletionRequest, ResponsesRequest
from server.sse import token_logprobs

# The Responses API's efforts beyond chat's low/medium/high.
EFFORTS: dict[str, dict[str, Any]] = {
    "none": {"thinking_token_budget": 0},
    "minimal": {"reasoning_effort": "low"},
    "low": {"reasoning_effort": "low"},
    "medium": {"reasoning_effort": "medium"},
    "high": {"reasoning_effort": "high"},
}


def as_chat_request(request: ResponsesRequest) -> ChatCompletionRequest:
    """The chat request a Responses request amounts to."""
    messages: list[dict[str, str]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
    else:
        # Reasoning items sent back are dropped, as earlier turns' thinking is in chat.
        messages += [{"role": item.role, "content": item.text}
                     for item in request.input if item.type == "message"]
    if not messages:
        raise BadRequestError("input holds no message", param="input")
    fields: dict[str, Any] = {
        "model": request.model, "messages": messages, "stream": request.stream,
        "max_completion_tokens": request.max_output_tokens,
        "temperature": request.temperature, "top_p": request.top_p, "seed": request.seed,
        "budget_forcing": request.budget_forcing, "user": request.user,
    }
    if request.reasoning and request.reasoning.effort:
        fields.update(EFFORTS[request.reasoning.effort])
    if (fmt := request.text.format if request.text else None) and fmt.type != "text":
        fields["response_format"] = {"type": fmt.type} if fmt.type == "json_object" else {
            "type": "json_schema", "json_schema": {"name": fmt.name, "schema": fmt.schema_,
                                                   "strict": fmt.strict}}
    try:
        return ChatCompletionRequest.model_validate(
            {k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise BadRequestError(str(exc.errors()[0]["msg"])) from exc


class ResponsesEncoder:
    """Responses events and the final response object; one per request."""

    def __init__(self, response_id: str, model: str, request: ResponsesRequest,
                 sampling_used: dict[str, Any]) -> None:
        self.response_id = response_id
        self.created_at = int(time.time())
        self.request = request
        self.model = model
        self._sampling_used = sampling_used
        self._sequence_number = 0
        self._reasoning_id = f"rs_{uuid.uuid4().hex}"
        self._message_id = f"msg_{uuid.uuid4().hex}"
        self._total = ChoiceTotal()
        self._open: str | None = None  # "reasoning" or "message": the item streaming now
        self._items: list[dict[str, Any]] = []  # finished output items

    @property
    def id(self) -> str:
        return self.response_id

    # -- streaming ---------------------------------------------------------------

    def opening(self) -> bytes:
        shell = self._response("in_progress", [], None)
        return (self._event("response.created", response=shell)
                + self._event("response.in_progress", response=shell))

    def chunks(self, event: ChoiceEvent) -> list[bytes]:
        out = []
        if event.reasoning:
            if self._open != "reasoning":
                out.append(self._open_reasoning())
            self._total.reasoning += event.reasoning
            out.append(self._event("response.reasoning_text.delta", **self._where(),
                                   delta=event.reasoning))
        if event.content or event.content_logprobs:
            if self._open != "message":
                out += [self._close_item(), self._open_message()]
            self._total.content += event.content
            self._total.content_logprobs += event.content_logprobs
            out.append(self._event("response.output_text.delta", **self._where(),
                                   delta=event.content,
                                   logprobs=token_logprobs(event.content_logprobs)))
        if event.finish_reason is not None:
            self._total.finish_reason = event.finish_reason
        return [b for b in out if b]

    def closing(self, usage: Usage) -> bytes:
        # No answer came: an empty message still closes the output, as output_text "".
        tail = b"" if self._open == "message" else self._close_item() + self._open_message()
        tail += self._close_item()
        status = "incomplete" if self._total.finish_reason == "length" else "completed"
        response = self._response(status, self._items, usage)
        return tail + self._event(f"response.{status}", response=response)

    def failure(self, exc: Exception) -> bytes:
        _, body = exception_body(exc)
        response = self._response("failed", self._items, None)
        response["error"] = {"code": "server_error", "message": body["error"]["message"]}
        return self._event("response.failed", response=response)

    # -- whole response ------------------------------------------------------------

    def response(self, totals: dict[int, ChoiceTotal], usage: Usage,
                 has_markers: bool) -> dict[str, Any]:
        total = totals.get(0, ChoiceTotal())
        items = []
        if total.reasoning or has_markers:
            items.append(self._reasoning_item(total.reasoning))
        items.append(self._message_item(total.content, total.content_logprobs))
        status = "incomplete" if total.finish_reason == "length" else "completed"
        return self._response(status, items, usage)

    # -- pieces ----------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence_number, **fields}
        self._sequence_number += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _where(self) -> dict[str, Any]:
        item_id = self._reasoning_id if self._open == "reasoning" else self._message_id
        return {"item_id": item_id, "output_index": len(self._items), "content_index": 0}

    def _open_reasoning(self) -> bytes:
        self._open = "reasoning"
        item = {"id": self._reasoning_id, "type": "reasoning", "summary": [], "content": [],
                "status": "in_progress"}
        return (self._event("response.output_item.added", output_index=len(self._items),
                            item=item)
                + self._event("response.content_part.added", **self._where(),
                              part={"type": "reasoning_text", "text": ""}))

    def _open_message(self) -> bytes:
        self._open = "message"
        item = {"id": self._message_id, "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        return (self._event("response.output_item.added", output_index=len(self._items),
                            item=item)
                + self._event("response.content_part.added", **self._where(),
                              part=_output_text("", [])))

    def _close_item(self) -> bytes:
        if self._open is None:
            return b""
        where, total = self._where(), self._total
        if self._open == "reasoning":
            item = self._reasoning_item(total.reasoning)
            out = (self._event("response.reasoning_text.done", **where, text=total.reasoning)
                   + self._event("response.content_part.done", **where,
                                 part=item["content"][0]))
        else:
            item = self._message_item(total.content, total.content_logprobs)
            out = (self._event("response.output_text.done", **where, text=total.content,
                               logprobs=token_logprobs(total.content_logprobs))
                   + self._event("response.content_part.done", **where,
                                 part=item["content"][0]))
        out += self._event("response.output_item.done", output_index=where["output_index"],
                           item=item)
        self._items.append(item)
        self._open = None
        return out

    def _reasoning_item(self, text: str) -> dict[str, Any]:
        return {"id": self._reasoning_id, "type": "reasoning", "summary": [],
                "content": [{"type": "reasoning_text", "text": text}], "status": "completed"}

    def _message_item(self, text: str, logprobs: list[Any]) -> dict[str, Any]:
        return {"id": self._message_id, "type": "message", "role": "assistant",
                "status": "completed", "content": [_output_text(text, logprobs)]}

    def _response(self, status: str, output: list[dict[str, Any]],
                  usage: Usage | None) -> dict[str, Any]:
        request = self.request
        fmt = request.text.format if request.text and request.text.format else None
        return {
            "id": self.response_id, "object": "response", "created_at": self.created_at,
            "status": status, "model": self.model, "output": list(output),
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete" else None,
            "instructions": request.instructions, "metadata": request.metadata or {},
            "max_output_tokens": request.max_output_tokens,
            **self._sampling_used,
            "parallel_tool_calls": False, "tool_choice": "none", "tools": [],
            "reasoning": {"effort": request.reasoning.effort if request.reasoning else None,
                          "summary": None},
            "text": {"format": fmt.model_dump(by_alias=True, exclude_none=True)
                     if fmt else {"type": "text"}},
            "store": False, "background": False, "truncation": "disabled",
            "usage": _usage(usage) if usage is not None else None,
        }


def _output_text(text: str, logprobs: list[Any]) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [],
            "logprobs": token_logprobs(logprobs)}


def _usage(usage: Usage) -> dict[str, Any]:
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}
