"""Prompt rendering: chat messages to token ids with the tokenizer's chat template."""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from server.errors import BadRequestError, ContextLengthError
from server.protocol import ChatMessage
from server.reasoning import ThinkMarkers

logger = logging.getLogger(__name__)

# Marker pairs in the vocabularies of the models we serve (R1-Distill, GLM-Z1,
# QwQ, our demo model all use these).
KNOWN_MARKERS = (("<think>", "</think>"),)

# Names a request may not pass in chat_template_kwargs: apply_chat_template's own
# parameters (the server sets them) and the variables the template is rendered with.
RESERVED_TEMPLATE_KWARGS = frozenset(
    set(inspect.signature(PreTrainedTokenizerBase.apply_chat_template).parameters)
    - {"self", "kwargs", "chat_template"}
) | {"messages", "bos_token", "eos_token", "raise_exception", "strftime_now"}


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    """The model's tokenizer exactly as its tokenizer.json defines it.

    transformers 5's AutoTokenizer swaps a qwen2 model's pre-tokenizer for Qwen2's
    built-in one, whatever tokenizer.json says. For R1-Distill-Qwen the two agree;
    for a tokenizer trained with other rules (the demo model's makes "\n\n" two
    tokens where Qwen2's makes one; with `--numbers lists`, "41" in "41, 93" is one token
    where Qwen2's makes two) prompts would be split unlike its training data.
    """
    if (model_dir / "tokenizer.json").is_file():
        tokenizer: PreTrainedTokenizerBase = PreTrainedTokenizerFast.from_pretrained(str(model_dir))
        return tokenizer
    return AutoTokenizer.from_pretrained(str(model_dir))


def model_description(model_dir: Path) -> str | None:
    """The `description` of a model folder's `model_card.json`, if it has one: what a
    client should know of the model, served in `/v1/models` (the demo model says there
    that its template shows it only the conversation from the last user message on)."""
    path = model_dir / "model_card.json"
    if not path.is_file():
        return None
    description = json.loads(path.read_text(encoding="utf-8")).get("description")
    return description if isinstance(description, str) else None


class PromptRenderer:
    """Owns the tokenizer; renders and measures prompts."""

    def __init__(self, model_dir: Path, think_start: str | None, think_end: str | None) -> None:
        self.tokenizer = load_tokenizer(model_dir)
        self.markers = self._find_markers(think_start, think_end)
        self.description = model_description(model_dir)

    def _find_markers(self, start: str | None, end: str | None) -> ThinkMarkers | None:
        if start is not None or end is not None:
            if not start or not end:
                return None  # an empty override turns reasoning splitting off
            return self._markers(start, end)
        vocab = self.tokenizer.get_vocab()
        for start_text, end_text in KNOWN_MARKERS:
            if start_text in vocab and end_text in vocab:
                return self._markers(start_text, end_text)
        return None

    def _markers(self, start: str, end: str) -> ThinkMarkers:
        encode = self.tokenizer.encode
        return ThinkMarkers(
            start=start,
            end=end,
            start_ids=tuple(encode(start, add_special_tokens=False)),
            end_ids=tuple(encode(end, add_special_tokens=False)),
        )

    def render_chat(self, messages: list[ChatMessage], template_kwargs: dict[str, Any],
                    chat_template: str | None = None) -> list[int]:
        """`chat_template` replaces the model's (the service allows it only when trusted)."""
        conversation = [{"role": _role(m), "content": m.text} for m in messages]
        reserved = sorted(RESERVED_TEMPLATE_KWARGS.intersection(template_kwargs))
        if reserved:
            raise BadRequestError(f"chat_template_kwargs may not set {', '.join(reserved)}: "
                                  "the server sets them", param="chat_template_kwargs")
        try:
            rendered = self.tokenizer.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False,
                chat_template=chat_template, **template_kwargs
            )
        except Exception as exc:  # jinja, or a kwarg of the wrong type: the request's input
            raise BadRequestError(f"chat template failed: {type(exc).__name__}: {exc}",
                                  param="messages") from exc
        if not isinstance(rendered, str):
            raise BadRequestError("chat template did not render text", param="messages")
        return list(self.tokenizer.encode(rendered, add_special_tokens=False))

    def render_text(self, prompt: str) -> list[int]:
        return list(self.tokenizer.encode(prompt, add_special_tokens=False))

    def validate_token_ids(self, token_ids: list[int], param: str = "prompt") -> list[int]:
        vocab_size = len(self.tokenizer)
        for token_id in token_ids:
            if not 0 <= token_id < vocab_size:
                raise BadRequestError(f"token id {token_id} is out of the vocabulary "
                                      f"(ids 0 to {vocab_size - 1})", param=param)
        return token_ids


def _role(message: ChatMessage) -> str:
    # OpenAI's newer name for the system role; chat templates know only "system".
    return "system" if message.role == "developer" else message.role


def output_budget(num_prompt_tokens: int, requested: int | None, max_model_len: int,
                  min_tokens: int = 0) -> int:
    """Output tokens for a request, or a 400 that gives both numbers."""
    room = max_model_len - num_prompt_tokens
    if room <= 0:
        raise ContextLengthError(
            f"the prompt has {num_prompt_tokens} tokens but the model's context is "
            f"{max_model_len} tokens", param="messages")
    if requested is not None and requested > room:
        raise ContextLengthError(
            f"max_tokens is {requested} but only {room} tokens fit after the prompt's "
            f"{num_prompt_tokens} in the model's context of {max_model_len}", param="max_tokens")
    max_tokens = room if requested is None else requested
    if min_tokens > max_tokens:
        raise BadRequestError(f"min_tokens ({min_tokens}) is above max_tokens ({max_tokens})",
                              param="min_tokens")
    return max_tokens
