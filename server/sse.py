"""Encodes choice events as OpenAI chunks and responses (dicts, serialised by orjson).

Streaming is the hot path: the chunk envelope is serialised once per request
and each chunk only serialises its `choices` list; no pydantic model per token.
Every encoder answers the same calls (`Encoder`), so one `RequestRun` drives
chat, completions and the Responses API (`server.responses`) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from server.engine import TokenLogprob
from server.errors import exception_body
from server.generation import ChoiceEvent, ChoiceTotal, Usage

DONE = b"data: [DONE]\n\n"


class Encoder(Protocol):
    @property
    def id(self) -> str: ...  # the response's id; engine request ids derive from it

    def opening(self) -> bytes: ...

    def chunks(self, event: ChoiceEvent) -> list[bytes]: ...

    def closing(self, usage: Usage) -> bytes: ...

    def failure(self, exc: Exception) -> bytes: ...

    def response(self, totals: dict[int, ChoiceTotal], usage: Usage,
                 has_markers: bool) -> dict[str, Any]: ...


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


def token_logprobs(logprobs: list[TokenLogprob]) -> list[dict[str, Any]]:
    """Chat's (and the Responses API's) per-token logprob entries."""
    return [{"token": lp.token, "logprob": lp.logprob, "bytes": list(lp.token.encode()),
             "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())}
                              for t, v in lp.top]}
            for lp in logprobs]


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
                 include_reasoning: bool, include_usage: bool = False,
                 logprobs: bool = False) -> None:
        self.envelope = envelope
        self.reasoning_fields = reasoning_fields if include_reasoning else ()
        self.include_usage = include_usage
        self.logprobs = logprobs
        head = orjson.dumps({**envelope.fields(), "choices": None})
        self._chunk_head = head[: -len(b"null}")]  # '{"id":...,"choices":'
        self._role_sent: set[int] = set()

    @property
    def id(self) -> str:
        return self.envelope.id

    def opening(self) -> bytes:
        return b""

    def chunks(self, event: ChoiceEvent) -> list[bytes]:
        """SSE lines for one event: reasoning, then content, then the finish."""
        out = []
        if (event.reasoning or event.reasoning_logprobs) and self.reasoning_fields:
            delta = self._reasoning_delta(event.reasoning)
            if event.budget_event is not None:  # an extension: which text was inserted
                delta["budget_event"] = event.budget_event
            out.append(self._chunk(event.index, delta,
                                   logprobs=self._logprobs([], event.reasoning_logprobs)))
        if event.content or event.content_logprobs:
            out.append(self._chunk(event.index, {"content": event.content},
                                   logprobs=self._logprobs(event.content_logprobs, [])))
        if event.finish_reason is not None:
            out.append(self._chunk(event.index, {}, event.finish_reason))
        return out

    def closing(self, usage: Usage) -> bytes:
        if not self.include_usage:
            return DONE
        return sse({**self.envelope.fields(), "choices": [],
                    "usage": usage_dict(usage, with_reasoning=True)}) + DONE

    def failure(self, exc: Exception) -> bytes:
        return error_event(exc) + DONE

    def _reasoning_delta(self, text: str) -> dict[str, Any]:
        return {name: text for name in self.reasoning_fields}

    def _logprobs(self, content: list[TokenLogprob], reasoning: list[TokenLogprob]
                  ) -> dict[str, Any] | None:
        """`content` as OpenAI's; thinking tokens under the thinking text's name(s)."""
        if not self.logprobs:
            return None
        out: dict[str, Any] = {"content": token_logprobs(content), "refusal": None}
        if reasoning and self.reasoning_fields:
            out.update({name: token_logprobs(reasoning) for name in self.reasoning_fields})
        return out

    def _chunk(self, index: int, delta: dict[str, Any], finish_reason: str | None = None,
               logprobs: dict[str, Any] | None = None) -> bytes:
        if index not in self._role_sent:
            # The role rides on the first real delta: benchmark tools start their
            # time-to-first-token clock at the first chunk with choices.
            self._role_sent.add(index)
            delta = {"role": "assistant", **(delta or {"content": ""})}
        choice = {"index": index, "delta": delta, "logprobs": logprobs,
                  "finish_reason": finish_reason}
        return b"data: " + self._chunk_head + orjson.dumps([choice]) + b"}\n\n"

    def response(self, totals: dict[int, ChoiceTotal], usage: Usage,
                 has_markers: bool) -> dict[str, Any]:
        choices = []
        for index in sorted(totals):
            total = totals[index]
            message: dict[str, Any] = {"role": "assistant", "content": total.content}
            if has_markers:
                message.update(self._reasoning_delta(total.reasoning))
            choices.append({"index": index, "message": message,
                            "logprobs": self._logprobs(total.content_logprobs,
                                                       total.reasoning_logprobs),
                            "finish_reason": total.finish_reason})
        return {**self.envelope.fields(), "choices": choices,
                "usage": usage_dict(usage, with_reasoning=True)}


class CompletionEncoder:
    """Legacy text completion chunks and responses; the raw text, unsplit."""

    def __init__(self, envelope: Envelope, *, include_usage: bool = False,
                 logprobs: bool = False) -> None:
        self.envelope = envelope
        self.include_usage = include_usage
        self.logprobs = logprobs
        self._offsets: dict[int, int] = {}  # each choice's text length so far

    @property
    def id(self) -> str:
        return self.envelope.id

    def opening(self) -> bytes:
        return b""

    def chunks(self, event: ChoiceEvent) -> list[bytes]:
        text = event.reasoning + event.content
        logprobs = event.reasoning_logprobs + event.content_logprobs
        if not text and not logprobs and event.finish_reason is None:
            return []
        choice = {"index": event.index, "text": text,
                  "logprobs": self._logprobs(event.index, logprobs),
                  "finish_reason": event.finish_reason}
        return [sse({**self.envelope.fields(), "choices": [choice]})]

    def closing(self, usage: Usage) -> bytes:
        if not self.include_usage:
            return DONE
        return sse({**self.envelope.fields(), "choices": [],
                    "usage": usage_dict(usage, with_reasoning=False)}) + DONE

    def failure(self, exc: Exception) -> bytes:
        return error_event(exc) + DONE

    def _logprobs(self, index: int, logprobs: list[TokenLogprob]) -> dict[str, Any] | None:
        """The legacy format: parallel lists, top tokens as {token: logprob}."""
        if not self.logprobs:
            return None
        offsets = []
        for lp in logprobs:
            offsets.append(self._offsets.get(index, 0))
            self._offsets[index] = offsets[-1] + len(lp.token)
        return {"tokens": [lp.token for lp in logprobs],
                "token_logprobs": [lp.logprob for lp in logprobs],
                "top_logprobs": [dict(lp.top) or {lp.token: lp.logprob} for lp in logprobs],
                "text_offset": offsets}

    def response(self, totals: dict[int, ChoiceTotal], usage: Usage,
                 has_markers: bool) -> dict[str, Any]:
        del has_markers
        choices = [{"index": i, "text": totals[i].reasoning + totals[i].content,
                    "logprobs": self._logprobs(i, totals[i].reasoning_logprobs
                                               + totals[i].content_logprobs),
                    "finish_reason": totals[i].finish_reason} for i in sorted(totals)]
        return {**self.envelope.fields(), "choices": choices,
                "usage": usage_dict(usage, with_reasoning=False)}
