"""Wire models of the requests (pydantic). Responses are plain dicts built in sse.py.

Unknown fields are ignored, as OpenAI's SDKs may add some; fields that would
change the output and that we do not implement are rejected with a 400.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from server.errors import UnsupportedError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # vLLM's server takes seeds in this range
MAX_TOKEN_ID = 2**31 - 1  # larger ids cannot be a token of any vocabulary
MAX_TOP_K = 2**31 - 1  # any top_k at or above the vocabulary size means "all tokens"


def _check_encodable(value: Any, where: str) -> None:
    """Strings must be UTF-8-encodable: JSON lets a lone surrogate escape through."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where} is not valid text (a lone surrogate escape such as "
                             f"\\ud800)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_encodable(key, where)
            _check_encodable(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_encodable(item, f"{where}.{i}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="after")
    def _text_is_encodable(self) -> Any:
        for name, value in self:
            if not isinstance(value, BaseModel):  # nested models check themselves
                _check_encodable(value, name)
        return self


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


MIN_REPETITION_PENALTY = 1e-6
NonNegInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
TokenId = Annotated[int, Field(ge=0, le=MAX_TOKEN_ID)]
StopString = Annotated[str, Field(min_length=1)]


class SamplingFields(_Model):
    """Parameters shared by /v1/chat/completions and /v1/completions."""

    model: str | None = None
    max_tokens: PositiveInt | None = None
    # Unset sampling fields take the server's default (the model's generation_config.json).
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1, le=MAX_TOP_K)
    min_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    # Positive logits are divided by it in float32: at 5e-324 (0 there) they became inf, the
    # sampler NaN, and a JSON-constrained request ended in an engine error (a 503).
    repetition_penalty: float | None = Field(None, ge=MIN_REPETITION_PENALTY, le=2)
    seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)
    stop: StopString | list[StopString] | None = None
    n: int = Field(1, ge=1, le=16)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    ignore_eos: bool = False
    min_tokens: NonNegInt = 0
    stop_token_ids: list[TokenId] | None = None

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
            # str.isdigit() alone passes "²", which int() then refuses.
            if not (key.isascii() and key.isdigit()) or int(key) > MAX_TOKEN_ID:
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


class JsonSchemaSpec(_Model):
    name: Annotated[str, Field(min_length=1, max_length=64)] = "response"
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Model):
    """Chat's `response_format`: the answer as JSON (thinking stays free)."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("json_schema is required when type is 'json_schema'")
        return self

    @property
    def structured(self) -> dict[str, Any] | None:
        """The constraint as vLLM's StructuredOutputsParams fields."""
        if self.type == "json_object":
            return {"json_object": True}
        if self.type == "json_schema" and self.json_schema is not None:
            return {"json": self.json_schema.schema_}
        return None


MAX_TOP_LOGPROBS = 20  # OpenAI's limit, and vLLM's default max_logprobs


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: PositiveInt | None = None
    include_reasoning: bool = True
    budget_forcing: BudgetForcing | None = None
    thinking_token_budget: int | None = Field(None, ge=-1)  # vLLM's name; -1 = unlimited
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    chat_template: str | None = None  # refused unless --trust-request-chat-template
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: ResponseFormat | None = None

    @model_validator(mode="after")
    def _unsupported(self) -> ChatCompletionRequest:
        _reject_unsupported(self, {
            "tools": (None, []), "tool_choice": (None, "none"), "functions": (None, []),
            "function_call": (None, "none"),
        })
        if self.top_logprobs and not self.logprobs:
            raise UnsupportedError("top_logprobs requires logprobs: true", param="top_logprobs")
        return self

    @property
    def num_logprobs(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingFields):
    # One prompt per request: a list of prompts is accepted only when it holds one.
    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[TokenId], Field(min_length=1)] \
        | Annotated[list[str], Field(min_length=1, max_length=1)] \
        | Annotated[list[list[TokenId]], Field(min_length=1, max_length=1)]
    max_tokens: PositiveInt | None = 16
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    best_of: PositiveInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_prompt(cls, data: Any) -> Any:
        prompt = data.get("prompt") if isinstance(data, dict) else None
        if isinstance(prompt, list) and len(prompt) > 1 and \
                all(isinstance(p, (str, list)) for p in prompt):
            raise UnsupportedError("batched prompts are not supported; send one prompt per "
                                   "request (use n for several completions)", param="prompt")
        return data

    @model_validator(mode="after")
    def _unsupported(self) -> CompletionRequest:
        _reject_unsupported(self, {"echo": (False,), "suffix": (None, "")})
        if self.best_of is not None and self.best_of != self.n:
            raise UnsupportedError("'best_of' other than n is not supported", param="best_of")
        return self

    @property
    def output_limit(self) -> int | None:
        return self.max_tokens


class ResponseInputText(_Model):
    # Reasoning items sent back carry reasoning_text or summary_text; they are dropped.
    type: Literal["input_text", "output_text", "text", "reasoning_text", "summary_text"]
    text: str


class ResponseInputItem(_Model):
    """A message of a Responses `input`; a `reasoning` item is accepted and dropped."""

    type: Literal["message", "reasoning"] = "message"
    role: Literal["system", "developer", "user", "assistant"] = "user"
    content: str | list[ResponseInputText] = ""

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ResponseTextFormat(_Model):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: Annotated[str, Field(min_length=1, max_length=64)] = "response"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseTextFormat:
        if self.type == "json_schema" and self.schema_ is None:
            raise ValueError("schema is required when type is 'json_schema'")
        return self


class ResponseTextConfig(_Model):
    format: ResponseTextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None  # accepted, no effect


class ReasoningConfig(_Model):
    effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None  # no summaries are made


class ResponsesRequest(_Model):
    """POST /v1/responses, stateless: nothing is stored, nothing is looked up."""

    model: str | None = None
    input: Annotated[str, Field(min_length=1)] \
        | Annotated[list[ResponseInputItem], Field(min_length=1)]
    instructions: str | None = None
    max_output_tokens: PositiveInt | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)  # an extension, as chat's
    reasoning: ReasoningConfig | None = None
    budget_forcing: BudgetForcing | None = None
    text: ResponseTextConfig | None = None
    metadata: Annotated[dict[str, str], Field(max_length=16)] | None = None
    stream: bool = False
    store: bool | None = None  # accepted; responses are never stored
    user: str | None = None
    previous_response_id: str | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    background: bool | None = None
    include: list[str] | None = None
    top_logprobs: int | None = None
    prompt: Any = None
    conversation: Any = None
    max_tool_calls: int | None = None

    @model_validator(mode="after")
    def _unsupported(self) -> ResponsesRequest:
        _reject_unsupported(self, {
            "previous_response_id": (None,), "tools": (None, []),
            "tool_choice": (None, "none", "auto"), "background": (None, False),
            "include": (None, []), "top_logprobs": (None, 0), "prompt": (None,),
            "conversation": (None,), "max_tool_calls": (None,),
        })
        return self


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """Every error body (documented in /openapi.json for each status a route returns)."""

    error: ErrorDetail
