"""Turns a validated request into a `RequestRun`: render -> generate -> split -> encode."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from server import __version__
from server.budget import Budget, BudgetController, BudgetRequest, SpliceTokens, resolve_budget
from server.engine import DEFAULTED_FIELDS, Engine, GenerationParams
from server.errors import BadRequestError, ModelNotFoundError
from server.generation import ChoiceRun, ChoiceTotal, Usage, run_choices, wrap_seed
from server.metrics import Metrics, RequestRecord
from server.prompts import PromptRenderer, output_budget
from server.protocol import (
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    ResponsesRequest,
    SamplingFields,
)
from server.reasoning import ReasoningSplitter
from server.responses import ResponsesEncoder, as_chat_request
from server.settings import Settings
from server.sse import ChatEncoder, CompletionEncoder, Encoder, Envelope

SYSTEM_FINGERPRINT = f"fp_aha_{__version__.replace('.', '_')}"
REASONING_FIELDS = {
    "both": ("reasoning_content", "reasoning"),
    "reasoning_content": ("reasoning_content",),
    "reasoning": ("reasoning",),
}


@dataclass(slots=True)
class RequestRun:
    """All state of one request in flight."""

    encoder: Encoder
    choices: list[ChoiceRun]
    num_prompt_tokens: int
    has_markers: bool
    record: RequestRecord
    metrics: Metrics

    @property
    def usage(self) -> Usage:
        return Usage.of(self.num_prompt_tokens, self.choices)

    async def stream(self) -> AsyncIterator[bytes]:
        self.metrics.started()
        ending = b""
        try:
            if opening := self.encoder.opening():
                yield opening
            async for event in run_choices(self.choices, stream=True):
                self.record.on_event(event)
                if chunks := self.encoder.chunks(event):
                    yield b"".join(chunks)  # one socket write per event, not per chunk
            ending = self.encoder.closing(self.usage)
        except BaseException as exc:  # disconnects (CancelledError, GeneratorExit) included
            self.record.on_error(exc)
            if not isinstance(exc, Exception):
                raise
            ending = self.encoder.failure(exc)
        finally:
            self.metrics.finished(self.record, self.usage)
        yield ending

    async def collect(self) -> dict[str, Any]:
        self.metrics.started()
        totals: dict[int, ChoiceTotal] = {}
        try:
            async for event in run_choices(self.choices, stream=False):
                self.record.on_event(event)
                totals.setdefault(event.index, ChoiceTotal()).add(event)
        except BaseException as exc:
            self.record.on_error(exc)
            raise
        finally:
            self.metrics.finished(self.record, self.usage)
        return self.encoder.response(totals, self.usage, self.has_markers)


class Service:
    def __init__(self, settings: Settings, engine: Engine, renderer: PromptRenderer,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.engine = engine
        self.renderer = renderer
        self.metrics = metrics
        self.created = int(time.time())
        self.sampling_defaults = sampling_defaults(settings, engine.model_sampling_defaults())
        # A bad value in generation_config.json fails start-up, not every request.
        engine.check_params(GenerationParams(max_tokens=1, **self.sampling_defaults))

    def models(self) -> dict[str, Any]:
        card = {
            "id": self.settings.model_name,
            "object": "model",
            "created": self.created,
            "owned_by": "aha",
            "root": str(self.settings.model),
            "parent": None,
            "max_model_len": self.engine.max_model_len,
            "sampling_defaults": self.sampling_defaults,  # what a request's unset fields take
        }
        if self.renderer.description:
            card["description"] = self.renderer.description
        return {"object": "list", "data": [card]}

    def _check_model(self, requested: str | None) -> None:
        if requested is not None and requested != self.settings.model_name:
            raise ModelNotFoundError(
                f"model '{requested}' does not exist; this server serves "
                f"'{self.settings.model_name}'", param="model")

    def chat(self, request: ChatCompletionRequest, request_id: str) -> RequestRun:
        encoder = ChatEncoder(
            self._envelope("chatcmpl", "chat.completion.chunk" if request.stream
                           else "chat.completion"),
            reasoning_fields=REASONING_FIELDS[self.settings.reasoning_field],
            include_reasoning=request.include_reasoning, include_usage=request.include_usage,
            logprobs=request.logprobs,
        )
        return self._chat_run(request, request_id, encoder, "chat.completions")

    def responses(self, request: ResponsesRequest, request_id: str) -> RequestRun:
        """A Responses API request runs as the chat request it amounts to."""
        # OpenAI echoes the temperature and top_p used, not null where the request left them out.
        used = {name: _or(getattr(request, name), self.sampling_defaults[name])
                for name in ("temperature", "top_p")}
        encoder = ResponsesEncoder(f"resp_{uuid.uuid4().hex}", self.settings.model_name,
                                   request, used)
        return self._chat_run(as_chat_request(request), request_id, encoder, "responses")

    def _chat_run(self, request: ChatCompletionRequest, request_id: str, encoder: Encoder,
                  endpoint: str) -> RequestRun:
        self._check_model(request.model)
        prompt_ids, in_reasoning = self._render(request)
        markers = self.renderer.markers
        max_tokens = output_budget(len(prompt_ids), request.output_limit,
                                   self.engine.max_model_len, request.min_tokens)
        budget = self._budget(request, max_tokens, in_reasoning)
        record = RequestRecord(request_id, endpoint, request.stream)
        structured = request.response_format.structured if request.response_format else None
        return self._run(request, prompt_ids, encoder, max_tokens,
                         lambda: ReasoningSplitter(markers, in_reasoning=in_reasoning),
                         budget, record, has_markers=markers is not None,
                         thinking=in_reasoning, structured=structured,
                         num_logprobs=request.num_logprobs)

    def _render(self, request: ChatCompletionRequest) -> tuple[list[int], bool]:
        """The prompt's ids, and whether it leaves the model inside a think block."""
        messages = [_without_reasoning(m, self.renderer) for m in request.messages]
        kwargs = dict(request.chat_template_kwargs or {})
        template = request.chat_template or kwargs.pop("chat_template", None)
        if template is not None and not self.settings.trust_request_chat_template:
            raise BadRequestError("a chat template per request is refused: the server was "
                                  "started without --trust-request-chat-template",
                                  param="chat_template")
        if request.thinking_token_budget == 0 and "enable_thinking" not in kwargs:
            # A budget of 0 means no thinking: the template's own switch where it has
            # one (the demo model, Qwen3); else the controller closes thinking at once.
            kwargs["enable_thinking"] = False
        prompt_ids = self.renderer.render_chat(messages, kwargs, template)
        markers = self.renderer.markers
        return prompt_ids, markers is not None and markers.prompt_opens_thinking(prompt_ids)

    def _budget(self, request: ChatCompletionRequest, max_tokens: int,
                in_reasoning: bool) -> Budget:
        effort = request.reasoning_effort
        asked = BudgetRequest(
            fields=request.budget_forcing.model_dump() if request.budget_forcing else {},
            thinking_token_budget=request.thinking_token_budget, effort=effort,
            effort_cap=None if effort is None else self.settings.reasoning_effort_budgets[effort])
        markers = self.renderer.markers
        off_reason = None
        if not in_reasoning:
            off_reason = ("the model has no think markers" if markers is None else
                          "thinking is off for this prompt (the chat template did not open it)")
        try:
            return resolve_budget(asked, self.settings.budget_defaults(), max_tokens,
                                  explicit_max_tokens=request.output_limit is not None,
                                  num_end_marker_tokens=len(markers.end_ids) if markers else 1,
                                  thinking_off_reason=off_reason)
        except ValueError as exc:
            raise BadRequestError(str(exc), param="budget_forcing") from exc

    def completion(self, request: CompletionRequest, request_id: str) -> RequestRun:
        self._check_model(request.model)
        prompt_ids = self._completion_prompt(request.prompt)
        if not prompt_ids:
            raise BadRequestError("the prompt is empty", param="prompt")
        encoder = CompletionEncoder(self._envelope("cmpl", "text_completion"),
                                    include_usage=request.include_usage,
                                    logprobs=request.logprobs is not None)
        max_tokens = output_budget(len(prompt_ids), request.output_limit,
                                   self.engine.max_model_len, request.min_tokens)
        record = RequestRecord(request_id, "completions", request.stream)
        return self._run(request, prompt_ids, encoder, max_tokens,
                         lambda: ReasoningSplitter(None, in_reasoning=False), Budget(), record,
                         has_markers=False, thinking=False, num_logprobs=request.logprobs)

    def _completion_prompt(self, prompt: str | list[int] | list[str] | list[list[int]]
                           ) -> list[int]:
        if isinstance(prompt, str):
            return self.renderer.render_text(prompt)
        if prompt and all(isinstance(p, int) for p in prompt):
            return self.renderer.validate_token_ids([int(p) for p in prompt])  # type: ignore[arg-type]
        if len(prompt) == 1:
            return self._completion_prompt(prompt[0])  # type: ignore[arg-type]
        raise BadRequestError("batched prompts are not supported; send one prompt per request "
                              "(use n for several completions)", param="prompt")

    def _run(self, request: SamplingFields, prompt_ids: list[int], encoder: Encoder,
             max_tokens: int, new_splitter: Any, budget: Budget, record: RequestRecord, *,
             has_markers: bool, thinking: bool, structured: dict[str, Any] | None = None,
             num_logprobs: int | None = None) -> RequestRun:
        self._check_token_ids(request)
        tokens = self._splice_tokens(budget, answer_apart=structured is not None)
        markers = self.renderer.markers
        end_marker_id = markers.end_ids[0] if markers and len(markers.end_ids) == 1 else None
        engine_id = encoder.id
        choices = [
            ChoiceRun(index=i, engine=self.engine, prompt_ids=prompt_ids,
                      params=_params(request, max_tokens, i, self.sampling_defaults,
                                     structured, num_logprobs),
                      engine_request_id=f"{engine_id}-{i}", splitter=new_splitter(),
                      # A constrained answer starts in its own engine request.
                      controller=BudgetController(budget, tokens, max_tokens, thinking=thinking,
                                                  answer_apart=structured is not None),
                      end_marker_id=end_marker_id)
            for i in range(request.n)
        ]
        self.engine.check_params(choices[0].params)  # vLLM's checks, before any output
        return RequestRun(encoder, choices, len(prompt_ids), has_markers, record, self.metrics)

    def _check_token_ids(self, request: SamplingFields) -> None:
        ids = {"stop_token_ids": request.stop_token_ids or [],
               "logit_bias": [int(k) for k in request.logit_bias or {}]}
        for param, token_ids in ids.items():
            self.renderer.validate_token_ids(token_ids, param=param)

    def _splice_tokens(self, budget: Budget, *, answer_apart: bool) -> SpliceTokens:
        markers = self.renderer.markers
        if not (budget.is_active or answer_apart) or markers is None:
            return SpliceTokens((), (), (), "")
        encode = self.renderer.render_text
        return SpliceTokens(waits=tuple(tuple(encode(t)) for t in budget.wait_texts),
                            close=tuple(encode(budget.close_text)),
                            end_marker=markers.end_ids, end_marker_text=markers.end)

    def _envelope(self, prefix: str, obj: str) -> Envelope:
        return Envelope(id=f"{prefix}-{uuid.uuid4().hex}", object=obj, created=int(time.time()),
                        model=self.settings.model_name, system_fingerprint=SYSTEM_FINGERPRINT)


def _without_reasoning(message: ChatMessage, renderer: PromptRenderer) -> ChatMessage:
    """Drops thinking from earlier assistant turns, whatever the chat template does."""
    markers = renderer.markers
    if message.role != "assistant" or markers is None or markers.end not in message.text:
        return message
    answer = message.text.split(markers.end)[-1].lstrip()
    return message.model_copy(update={"content": answer})


def sampling_defaults(settings: Settings, model_defaults: dict[str, float]) -> dict[str, Any]:
    """What a request's unset sampling fields take: the server's flag, else the model's
    generation_config.json (as vLLM's server does), else the API's neutral value."""
    neutral = GenerationParams(max_tokens=1)
    flags = {"temperature": settings.default_temperature, "top_p": settings.default_top_p}
    return {name: next(value for value in (flags.get(name), model_defaults.get(name),
                                           getattr(neutral, name)) if value is not None)
            for name in DEFAULTED_FIELDS}


def _params(request: SamplingFields, max_tokens: int, index: int, defaults: dict[str, Any],
            structured: dict[str, Any] | None, num_logprobs: int | None) -> GenerationParams:
    # Each choice is its own engine request; like vLLM's n>1, choice i gets seed + i.
    seed = None if request.seed is None else wrap_seed(request.seed + index)
    bias = {int(k): v for k, v in request.logit_bias.items()} if request.logit_bias else None
    sampling = {name: _or(getattr(request, name), defaults[name]) for name in DEFAULTED_FIELDS}
    return GenerationParams(
        max_tokens=max_tokens, **sampling, seed=seed, stop=request.stop_list,
        stop_token_ids=list(request.stop_token_ids or []), logit_bias=bias,
        ignore_eos=request.ignore_eos, min_tokens=request.min_tokens,
        logprobs=num_logprobs, structured=structured,
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value
