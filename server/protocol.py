"""Wire models of the requests (pydantic). Responses are plain dicts built in sse.py.

Unknown fields are ignored, as OpenAI's SDKs may add some; fields that would
change the output and that we do not implement are rejected with a 400.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from server.errors import UnsupportedError


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Model):
    type: Literal["text"]
    text: str


class ChatMessage(_Model):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    # Reasoning sent back by clients is accepted under either name and dropped
    # before templating: models are trained without earlier turns' thinking.
    reasoning_content: str | None = None
    reasoning: str | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Model):
    include_usage: bool = False


NonNegInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]


class SamplingFields(_Model):
    """Parameters shared by /v1/chat/completions and /v1/completions."""

    model: str | None = None
    max_tokens: PositiveInt | None = None
    temperature: float | None = Field(None, ge=0, le=2)  # unset: the server's default
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int = Field(0, ge=-1)
    min_p: float = Field(0.0, ge=0, le=1)
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    repetition_penalty: float = Field(1.0, gt=0, le=2)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=16)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    ignore_eos: bool = False
    min_tokens: NonNegInt = 0
    stop_token_ids: list[NonNegInt] | None = None

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    @field_validator("logit_bias")
    @classmethod
    def _token_ids(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key in value or {}:
            if not key.isdigit():
                raise ValueError(f"keys must be token ids, got {key!r}")
        return value


def _reject_unsupported(request: BaseModel, harmless: dict[str, tuple[Any, ...]]) -> None:
    """400 for each field set to a value we do not implement (never silently ignored)."""
    for name, allowed in harmless.items():
        value = getattr(request, name)
        if value not in allowed:
            raise UnsupportedError(f"'{name}' is not supported by this server", param=name)


class BudgetForcing(BaseModel):
    """Per-request budget forcing (s1); unset fields take the server's defaults."""

    model_config = ConfigDict(extra="forbid")  # a misspelt budget field must not pass silently

    min_thinking_tokens: NonNegInt | None = None
    max_thinking_tokens: PositiveInt | None = None
    wait_text: Annotated[str, Field(min_length=1)] | Annotated[
        list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    max_waits: NonNegInt | None = None
    close_text: Annotated[str, Field(min_length=1)] | None = None
    answer_tokens: NonNegInt | None = None


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: PositiveInt | None = None
    include_reasoning: bool = True
    budget_forcing: BudgetForcing | None = None
    thinking_token_budget: int | None = Field(None, ge=-1)  # vLLM's name; -1 = unlimited
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _unsupported(self) -> ChatCompletionRequest:
        _reject_unsupported(self, {
            "tools": (None, []), "tool_choice": (None, "none"), "functions": (None, []),
            "function_call": (None, "none"), "response_format": (None, {"type": "text"}),
            "logprobs": (None, False), "top_logprobs": (None, 0),
        })
        return self

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingFields):
    prompt: str | list[int] | list[str] | list[list[int]]
    max_tokens: PositiveInt | None = 16
    echo: bool = False
    suffix: str | None = None
    logprobs: NonNegInt | None = None
    best_of: PositiveInt | None = None

    @model_validator(mode="after")
    def _unsupported(self) -> CompletionRequest:
        _reject_unsupported(self, {"echo": (False,), "suffix": (None, ""), "logprobs": (None,)})
        if self.best_of is not None and self.best_of != self.n:
            raise UnsupportedError("'best_of' other than n is not supported", param="best_of")
        return self

    @property
    def output_limit(self) -> int | None:
        return self.max_tokens
