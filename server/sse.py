"""Encodes choice events as OpenAI chunks and responses (dicts, serialised by orjson).

Streaming is the hot path: the chunk envelope is serialised once per request
and each chunk only serialises its `choices` list; no pydantic model per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from server.errors import exception_body
from server.generation import ChoiceEvent, Usage

DONE = b"data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def error_event(exc: BaseException) -> bytes:
    """An error after the stream started: an error event, then [DONE] follows."""
    _, body = exception_body(exc)
    return sse(body)


def usage_dict(usage: Usage, *, with_reasoning: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }
    if with_reasoning:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    if usage.budget_forcing is not None:
        out["budget_forcing"] = usage.budget_forcing
    return out


@dataclass(slots=True)
class Envelope:
    """The fields every chunk or response of one request repeats."""

    id: str
    object: str
    created: int
    model: str
    system_fingerprint: str

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "object": self.object, "created": self.created,
                "model": self.model, "system_fingerprint": self.system_fingerprint}


class ChatEncoder:
    """Chat completion chunks and responses; one per request."""

    def __init__(self, envelope: Envelope, *, reasoning_fields: tuple[str, ...],
                 include_reasoning: bool) -> None:
        self.envelope = envelope
        self.reasoning_fields = reasoning_fields if include_reasoning else ()
        head = orjson.dumps({**envelope.fields(), "choices": None})
        self._chunk_head = head[: -len(b"null}")]  # '{"id":...,"choices":'
        self._role_sent: set[int] = set()

    def chunks(self, event: ChoiceEvent) -> list[bytes]:
        """SSE lines for one event: reasoning, then content, then the finish."""
        out = []
        if event.reasoning and self.reasoning_fields:
            delta = self._reasoning_delta(event.reasoning)
            if event.budget_event is not None:  # an extension: which text was inserted
                delta["budget_event"] = event.budget_event
            out.append(self._chunk(event.index, delta))
        if event.content:
            out.append(self._chunk(event.index, {"content": event.content}))
        if event.finish_reason is not None:
            out.append(self._chunk(event.index, {}, event.finish_reason))
        return out

    def _reasoning_delta(self, text: str) -> dict[str, Any]:
        return {name: text for name in self.reasoning_fields}

    def _chunk(self, index: int, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        if index not in self._role_sent:
            # The role rides on the first real delta: benchmark tools start their
            # time-to-first-token clock at the first chunk with choices.
            self._role_sent.add(index)
            delta = {"role": "assistant", **(delta or {"content": ""})}
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return b"data: " + self._chunk_head + orjson.dumps([choice]) + b"}\n\n"

    def usage_chunk(self, usage: Usage) -> bytes:
        return sse({**self.envelope.fields(), "choices": [],
                    "usage": usage_dict(usage, with_reasoning=True)})

    def response(self, texts: dict[int, tuple[str, str, str | None]], usage: Usage,
                 has_markers: bool) -> dict[str, Any]:
        choices = []
        for index in sorted(texts):
            reasoning, content, finish_reason = texts[index]
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if has_markers:
                message.update(self._reasoning_delta(reasoning))
            choices.append({"index": index, "message": message, "logprobs": None,
                            "finish_reason": finish_reason})
        return {**self.envelope.fields(), "choices": choices,
                "usage": usage_dict(usage, with_reasoning=True)}


class CompletionEncoder:
    """Legacy text completion chunks and responses; the raw text, unsplit."""

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope

    def chunks(self, event: ChoiceEvent) -> list[bytes]:
        text = event.reasoning + event.content
        if not text and event.finish_reason is None:
            return []
        choice = {"index": event.index, "text": text, "logprobs": None,
                  "finish_reason": event.finish_reason}
        return [sse({**self.envelope.fields(), "choices": [choice]})]

    def usage_chunk(self, usage: Usage) -> bytes:
        return sse({**self.envelope.fields(), "choices": [],
                    "usage": usage_dict(usage, with_reasoning=False)})

    def response(self, texts: dict[int, tuple[str, str, str | None]], usage: Usage,
                 has_markers: bool) -> dict[str, Any]:
        del has_markers
        choices = [{"index": i, "text": texts[i][0] + texts[i][1], "logprobs": None,
                    "finish_reason": texts[i][2]} for i in sorted(texts)]
        return {**self.envelope.fields(), "choices": choices,
                "usage": usage_dict(usage, with_reasoning=False)}
