"""The vLLM boundary: the only module that imports vllm.

It turns our `GenerationParams` into vLLM's SamplingParams, runs one engine
request per call and yields `EngineDelta`s. Errors leave as our own exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from server.errors import BadRequestError, EngineUnavailableError

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class GenerationParams:
    """Sampling settings for one choice, engine-agnostic."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    logit_bias: dict[int, float] | None = None
    ignore_eos: bool = False
    min_tokens: int = 0
    logprobs: int | None = None  # None: none; k: each sampled token's and the k likeliest
    # A constraint on the output, as vLLM's StructuredOutputsParams fields (json=schema,
    # or json_object=True); the generation layer sets it on answer segments only.
    structured: dict[str, Any] | None = None


# Fields a request may leave unset; they then take the server's or the model's default.
DEFAULTED_FIELDS = ("temperature", "top_p", "top_k", "min_p", "presence_penalty",
                    "frequency_penalty", "repetition_penalty")


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """A sampled token's log probability, and the likeliest tokens at its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()  # most likely first


@dataclass(slots=True)
class EngineDelta:
    """New output of one engine request since the last delta."""

    text: str
    token_ids: list[int]
    finish_reason: str | None  # "stop", "length", "abort" or None while running
    stop_reason: int | str | None = None  # the stop string or token that ended it
    logprobs: list[TokenLogprob] | None = None  # one per token id, when asked for


# vLLM's CPU default sizes the KV cache from --gpu-memory-utilization (0.9) of the
# NUMA node's memory and refuses to start unless that much is free at start-up: on a
# 2-core, 24 GiB machine whose node 0 held 10.8 GiB, 9.55 GiB free failed `make serve`.
# A fixed size starts anywhere and holds ~500k tokens of the demo model (4 KiB a token).
DEFAULT_CPU_KV_CACHE_GIB = 2


def _with_cpu_kv_cache(engine_kwargs: dict[str, Any]) -> dict[str, Any]:
    """On a CPU, a fixed KV cache unless VLLM_CPU_KVCACHE_SPACE or the kwargs set one."""
    from vllm.platforms import current_platform

    if (not current_platform.is_cpu() or os.environ.get("VLLM_CPU_KVCACHE_SPACE")
            or engine_kwargs.get("kv_cache_memory_bytes")):
        return engine_kwargs
    logger.info("CPU KV cache: %d GiB (VLLM_CPU_KVCACHE_SPACE=N to change)",
                DEFAULT_CPU_KV_CACHE_GIB)
    return {**engine_kwargs, "kv_cache_memory_bytes": DEFAULT_CPU_KV_CACHE_GIB * 2**30}


class Engine:
    """One in-process vLLM AsyncLLM, started and stopped by the app's lifespan."""

    def __init__(self, engine_kwargs: dict[str, Any]) -> None:
        self._engine_kwargs = engine_kwargs
        self._llm: Any = None
        self._active: set[str] = set()  # request ids in the engine, for abort_all
        self._closing = False

    def start(self) -> None:
        # Imported here so that importing the server package never loads vLLM.
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(**_with_cpu_kv_cache(self._engine_kwargs))
        self._llm = AsyncLLM.from_engine_args(args)

    def shutdown(self) -> None:
        if self._llm is not None:
            self._llm.shutdown()
            self._llm = None

    @property
    def is_ready(self) -> bool:
        return self._llm is not None and not self._llm.errored

    @property
    def max_model_len(self) -> int:
        return int(self._require().model_config.max_model_len)

    def model_sampling_defaults(self) -> dict[str, float]:
        """The sampling fields the model's generation_config.json sets.

        Read as vLLM's server reads them, plus transformers' greedy switch: vLLM ignores
        `do_sample: false`, which would sample a model meant to be decoded greedily at
        temperature 1. `--engine-args '{"generation_config": "vllm"}'` ignores the file.
        """
        config = self._require().model_config
        found = {name: value for name, value in config.get_diff_sampling_param().items()
                 if name in DEFAULTED_FIELDS}
        greedy = (config.generation_config != "vllm"
                  and config.try_get_generation_config().get("do_sample") is False)
        if greedy and "temperature" not in config.override_generation_config:
            found["temperature"] = 0.0
        return found

    @property
    def num_unfinished_requests(self) -> int:
        return int(self._require().get_num_unfinished_requests())

    async def check_health(self) -> None:
        try:
            await self._require().check_health()
        except EngineUnavailableError:
            raise
        except Exception as exc:
            raise EngineUnavailableError(f"engine is not healthy: {exc}") from exc

    def _require(self) -> Any:
        if self._llm is None:
            raise EngineUnavailableError("the engine is starting; try again shortly")
        if self._llm.errored:
            raise EngineUnavailableError("the engine has stopped; the server must be restarted")
        return self._llm

    async def generate(
        self, prompt_ids: list[int], params: GenerationParams, request_id: str, *, stream: bool
    ) -> AsyncIterator[EngineDelta]:
        """Runs one request; cancelling the consumer aborts it in the engine."""
        from vllm.exceptions import VLLMClientError
        from vllm.inputs import TokensPrompt
        from vllm.v1.engine.exceptions import EngineDeadError

        llm = self._require()
        if self._closing:
            raise EngineUnavailableError("the server is shutting down")
        sampling = self.check_params(params, stream=stream)
        self._active.add(request_id)
        try:
            async for out in llm.generate(
                TokensPrompt(prompt_token_ids=prompt_ids), sampling, request_id
            ):
                completion = out.outputs[0]
                yield EngineDelta(
                    text=completion.text,
                    token_ids=list(completion.token_ids),
                    finish_reason=completion.finish_reason,
                    stop_reason=completion.stop_reason,
                    logprobs=_logprobs(completion, params.logprobs),
                )
        except (asyncio.CancelledError, GeneratorExit):
            raise  # vLLM's generate() aborts the request itself
        except EngineDeadError as exc:
            raise EngineUnavailableError("the engine has stopped") from exc
        except Exception as exc:
            # vLLM may have registered the request before failing (an int it cannot
            # serialise, say): abort by our id so nothing stays in flight.
            await self._abort_quietly(request_id)
            if isinstance(exc, (VLLMClientError, OverflowError)):
                raise BadRequestError(f"the engine rejected the request: {exc}") from exc
            raise
        finally:
            self._active.discard(request_id)

    async def abort_all(self) -> int:
        """Aborts every request in the engine and refuses new ones (the end of a drain)."""
        self._closing = True
        request_ids = list(self._active)
        if request_ids and self._llm is not None:
            await self._llm.abort(request_ids)
        return len(request_ids)

    @staticmethod
    def check_params(params: GenerationParams, *, stream: bool = False) -> Any:
        """vLLM's SamplingParams for `params`, or a 400 carrying vLLM's own check.

        A structured-output constraint is compiled here too: the engine would only
        compile it when the answer segment starts, after thinking has streamed.
        """
        try:
            sampling = _sampling_params(params, stream=stream)
        except Exception as exc:  # only the request's values go in: its fault
            raise BadRequestError(f"invalid sampling parameters: {exc}") from exc
        if params.structured is not None:
            from vllm.v1.structured_output.backend_xgrammar import validate_xgrammar_grammar

            try:
                validate_xgrammar_grammar(_sampling_params(params, stream=stream))
            except Exception as exc:
                raise BadRequestError(f"invalid response format: {exc}",
                                      param="response_format") from exc
        return sampling

    async def _abort_quietly(self, request_id: str) -> None:
        try:
            await self.abort(request_id)
        except Exception:  # the request may be unknown to vLLM: nothing to free
            logger.debug("abort of %s after a failure failed", request_id, exc_info=True)

    async def abort(self, request_id: str) -> None:
        if self._llm is not None:
            await self._llm.abort(request_id)


def _logprobs(completion: Any, num_top: int | None) -> list[TokenLogprob] | None:
    """vLLM's per-position {token id: Logprob} dicts as our TokenLogprobs.

    vLLM puts the sampled token in each dict beside the `num_top` likeliest (rank 1..k).
    """
    if num_top is None or completion.logprobs is None:
        return None
    out = []
    for token_id, position in zip(completion.token_ids, completion.logprobs, strict=False):
        sampled = position[token_id]
        ranked = sorted((lp for lp in position.values() if lp.rank is not None
                         and lp.rank <= num_top), key=lambda lp: lp.rank)
        out.append(TokenLogprob(sampled.decoded_token or "", sampled.logprob,
                                tuple((lp.decoded_token or "", lp.logprob) for lp in ranked)))
    return out


def _sampling_params(params: GenerationParams, *, stream: bool) -> Any:
    from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

    # Whitespace is constrained engine-wide (settings.engine_kwargs).
    structured = None if params.structured is None else \
        StructuredOutputsParams(**params.structured)
    return SamplingParams(
        n=1,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        min_p=params.min_p,
        presence_penalty=params.presence_penalty,
        frequency_penalty=params.frequency_penalty,
        repetition_penalty=params.repetition_penalty,
        seed=params.seed,
        stop=params.stop or None,
        stop_token_ids=params.stop_token_ids or None,
        logit_bias=params.logit_bias,
        ignore_eos=params.ignore_eos,
        min_tokens=params.min_tokens,
        logprobs=params.logprobs,
        structured_outputs=structured,
        output_kind=RequestOutputKind.DELTA if stream else RequestOutputKind.FINAL_ONLY,
    )
