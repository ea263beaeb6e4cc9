"""All server settings: one pydantic-settings class, each field a flag and an env var."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from server.budget import DEFAULT_CLOSE_TEXT

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "models" / "aha-demo"

ReasoningField = Literal["both", "reasoning_content", "reasoning"]


class Settings(BaseSettings):
    """Aha: an OpenAI-compatible streaming server for reasoning models on vLLM.

    Every flag can also be set by an environment variable: AHA_ plus the flag's
    name in capitals with underscores (AHA_MAX_MODEL_LEN=4096).
    """

    model_config = SettingsConfigDict(
        env_prefix="AHA_",
        cli_prog_name="python -m server",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_exit_on_error=False,
        cli_hide_none_type=True,
        cli_avoid_json=True,
        extra="forbid",
    )

    # --- presets (applied under flags and environment variables) ---
    preset: str | None = Field(
        None, description="Settings for a known model, from launch/presets/NAME.json "
        "(e.g. deepseek-r1-distill-qwen-32b-w8a8); flags and env vars override it.")
    gpu: str | None = Field(
        None, description="With --preset: the GPU type whose settings to use (h100-80gb, "
        "h200, a100-80gb, a100-40gb); default: the preset's own.")

    # --- model and listener ---
    model: Path = Field(DEFAULT_MODEL, description="Model directory (weights, config, tokenizer).")
    served_model_name: str | None = Field(
        None, description="Name clients use in `model`; defaults to the model directory's name."
    )
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on (0 picks a free one).")
    api_key: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Accepted API key; repeat the flag for several (env: comma-separated). "
        "None set means no authentication.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level.")

    # --- engine arguments passed to vLLM ---
    dtype: str = Field(
        "auto", description="Weight/activation dtype: auto, bfloat16, float16, float32.")
    max_model_len: int | None = Field(None, gt=0, description="Context length (prompt + output).")
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs per replica for tensor parallelism.")
    pipeline_parallel_size: int = Field(1, ge=1, description="Pipeline-parallel stages.")
    quantization: str | None = Field(
        None, description="Quantisation method (compressed-tensors checkpoints are detected)."
    )
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="GPU memory share for vLLM. On a CPU the KV cache is "
        "a fixed 2 GiB instead (VLLM_CPU_KVCACHE_SPACE=N GiB changes it).")
    max_num_seqs: int | None = Field(None, gt=0, description="Most sequences batched at once.")
    enable_prefix_caching: bool = Field(True, description="Reuse KV cache of shared prefixes.")
    enforce_eager: bool = Field(False, description="Disable CUDA graphs / torch.compile.")
    seed: int = Field(0, description="Engine seed.")
    engine_args: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description='Any other vLLM engine argument as JSON, e.g. \'{"kv_cache_dtype": "fp8"}\'.',
    )

    # --- sampling defaults for requests that leave these fields unset ---
    default_temperature: float | None = Field(
        None, ge=0, le=2, description="Temperature of requests that leave it unset. Unset: the "
        "model's generation_config.json (as vLLM), else 1.0. GET /v1/models shows it.")
    default_top_p: float | None = Field(
        None, gt=0, le=1, description="top_p of requests that leave it unset. Unset: the "
        "model's generation_config.json, else 1.0.")

    # --- reasoning ---
    think_start: str | None = Field(
        None, description="Start-of-thinking marker; found in the tokenizer's vocabulary if unset."
    )
    think_end: str | None = Field(
        None, description="End-of-thinking marker; found in the tokenizer's vocabulary if unset."
    )
    reasoning_field: ReasoningField = Field(
        "both",
        description="Field(s) carrying thinking: reasoning_content (DeepSeek/SGLang), "
        "reasoning (vLLM >= 0.16), or both.",
    )

    trust_request_chat_template: bool = Field(
        False, description="Let requests replace the chat template (`chat_template`); "
        "refused with a 400 by default, as vLLM does.")

    # --- budget forcing: server-wide defaults for a request's `budget_forcing` ---
    budget_min_thinking_tokens: int | None = Field(
        None, ge=0, description="Default minimum thinking: earlier attempts to stop get the wait "
        "text. Unset: no minimum.")
    budget_max_thinking_tokens: int | None = Field(
        None, ge=1, description="Default thinking cap; at it thinking is closed and the model "
        "answers. Unset: no cap.")
    budget_wait_text: str = Field(
        "Wait", min_length=1, description="Default text that replaces an early end of thinking.")
    budget_max_waits: int = Field(8, ge=0, description="Default most wait insertions per choice.")
    budget_close_text: str = Field(
        DEFAULT_CLOSE_TEXT, min_length=1,
        description="Default text inserted before the end marker when thinking is capped.")
    budget_answer_tokens: int = Field(
        256, ge=0, description="Default tokens of max_tokens kept for the answer when a budget "
        "applies (at most half of max_tokens).")
    reasoning_effort_budgets: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: {"low": 256, "medium": 1024, "high": 4096},
        description="max_thinking_tokens for each reasoning_effort, as JSON.")

    # --- playground ---
    playground: bool = Field(
        True, description="Serve the playground page at / and /playground (public; its "
        "requests need the API key like any other). --no-playground turns it off.")

    # --- observability ---
    metrics_require_key: bool = Field(
        False, description="Require the API key on /metrics too (open by default).")

    # --- limits and shutdown ---
    max_request_body_bytes: int = Field(
        4 * 2**20, gt=0, description="Largest request body; larger ones get a 413 unread.")
    max_concurrent_requests: int = Field(
        256, gt=0, description="Generation requests served at once; more wait in a queue.")
    max_queued_requests: int = Field(
        256, ge=0, description="Requests waiting for a slot; past it a 429 with Retry-After "
        "(and /ready says 503).")
    drain_timeout_s: float = Field(
        25.0, ge=0, description="On SIGTERM: seconds in-flight requests get to finish before "
        "they are aborted (new requests get 503 meanwhile); then the server exits 0.")

    # --- streaming ---
    keepalive_s: float = Field(
        15.0, gt=0, description="Seconds between SSE keep-alive comments while the engine is busy."
    )

    @model_validator(mode="after")
    def _budget_defaults_agree(self) -> Settings:
        low, cap = self.budget_min_thinking_tokens, self.budget_max_thinking_tokens
        if low is not None and cap is not None and low > cap:
            raise ValueError(f"--budget-min-thinking-tokens ({low}) is above "
                             f"--budget-max-thinking-tokens ({cap})")
        return self

    @field_validator("api_key", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("reasoning_effort_budgets", mode="before")
    @classmethod
    def _parse_efforts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict) or set(value) != {"low", "medium", "high"}:
            raise ValueError('must be JSON like {"low": 256, "medium": 1024, "high": 4096}')
        return value

    @field_validator("engine_args", mode="before")
    @classmethod
    def _parse_engine_args(cls, value: Any) -> Any:
        if isinstance(value, str):
            parsed = json.loads(value) if value.strip() else {}
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
            return parsed
        return value

    @field_validator("model")
    @classmethod
    def _model_exists(cls, value: Path) -> Path:
        if not (value / "config.json").is_file():
            raise ValueError(f"no model at {value} (expected a directory with config.json)")
        return value.resolve()

    @model_validator(mode="after")
    def _name_model(self) -> Settings:
        if not self.served_model_name:
            self.served_model_name = self.model.name
        return self

    @property
    def model_name(self) -> str:
        assert self.served_model_name is not None  # set by the validator above
        return self.served_model_name

    def budget_defaults(self) -> dict[str, object]:
        return {
            "min_thinking_tokens": self.budget_min_thinking_tokens,
            "max_thinking_tokens": self.budget_max_thinking_tokens,
            "wait_text": self.budget_wait_text,
            "max_waits": self.budget_max_waits,
            "close_text": self.budget_close_text,
            "answer_tokens": self.budget_answer_tokens,
        }

    def engine_kwargs(self) -> dict[str, Any]:
        """Arguments for vLLM's AsyncEngineArgs."""
        kwargs: dict[str, Any] = dict(
            model=str(self.model),
            served_model_name=[self.model_name],
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            tensor_parallel_size=self.tensor_parallel_size,
            pipeline_parallel_size=self.pipeline_parallel_size,
            quantization=self.quantization,
            gpu_memory_utilization=self.gpu_memory_utilization,
            enable_prefix_caching=self.enable_prefix_caching,
            enforce_eager=self.enforce_eager,
            seed=self.seed,
            # Structured answers (response_format): compact JSON. Any whitespace is valid
            # JSON and a model that has never seen JSON fills the answer with newlines
            # until max_tokens; vLLM takes this per engine, not per request.
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        if self.max_num_seqs:
            kwargs["max_num_seqs"] = self.max_num_seqs
        return {**kwargs, **self.engine_args}
