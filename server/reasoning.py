"""Splits a choice's output into thinking and answer, one stateful object per choice.

Text is split on the marker strings, holding back any tail that could be the
start of a marker (a marker may be cut across deltas). Reasoning tokens are
counted by token id, so the count is exact even when `<think>` was in the
prompt. Written by hand: no library splits a token stream this way; vLLM's
parsers are bound to its server and mis-handle prompt-injected `<think>`.

Only the first end marker ends thinking. Anything after it is answer text passed
through verbatim, a later `</think>` included: a second marker is the model's own
output (small models write one after forced waits), vLLM's R1 parser does the same,
and dropping it would make `content` differ from what the model generated.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThinkMarkers:
    start: str
    end: str
    start_ids: tuple[int, ...]
    end_ids: tuple[int, ...]

    def prompt_opens_thinking(self, prompt_ids: Sequence[int]) -> bool:
        """True when the prompt ends inside an open think block (R1-Distill, GLM-Z1)."""
        last_start = _rfind(prompt_ids, self.start_ids)
        return last_start >= 0 and last_start > _rfind(prompt_ids, self.end_ids)


def _rfind(ids: Sequence[int], pattern: Sequence[int]) -> int:
    n = len(pattern)
    for i in range(len(ids) - n, -1, -1):
        if tuple(ids[i : i + n]) == tuple(pattern):
            return i
    return -1


def _held_prefix(text: str, marker: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `marker`."""
    for n in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


class Phase(enum.Enum):
    MAYBE_START = "maybe_start"  # the model may still open thinking itself
    REASONING = "reasoning"
    CONTENT = "content"


@dataclass(slots=True)
class Split:
    reasoning: str = ""
    content: str = ""


class ReasoningSplitter:
    """Feeds engine deltas in order; returns the reasoning and content text of each."""

    def __init__(self, markers: ThinkMarkers | None, *, in_reasoning: bool) -> None:
        self.markers = markers
        if markers is None:
            self.phase = Phase.CONTENT
        else:
            self.phase = Phase.REASONING if in_reasoning else Phase.MAYBE_START
        self._held = ""  # text that may be part of a marker
        # Fields whose first visible character went out; leading whitespace before
        # it is dropped. Without markers the output is passed through untouched.
        self._started: set[str] = {"reasoning", "content"} if markers is None else set()
        self._num_tokens = 0
        self._recent_ids: list[int] = []
        self._reasoning_end_at: int | None = None  # token count through the end marker
        self._entered_reasoning = self.phase is Phase.REASONING

    @property
    def num_reasoning_tokens(self) -> int:
        if not self._entered_reasoning:
            return 0
        if self._reasoning_end_at is not None:
            return self._reasoning_end_at
        return self._num_tokens

    @property
    def num_tokens(self) -> int:
        """Output tokens fed so far."""
        return self._num_tokens

    def token_phase(self, position: int) -> str:
        """Where output token `position` (0-based, already fed) fell, by id:
        "reasoning", "marker" (part of the end marker) or "content"."""
        if self.markers is None or not self._entered_reasoning:
            return "content"
        end_at = self._reasoning_end_at
        if end_at is None or position < end_at - len(self.markers.end_ids):
            return "reasoning"
        return "marker" if position < end_at else "content"

    @property
    def reasoning_ended(self) -> bool:
        return self.phase is Phase.CONTENT

    @property
    def end_marker_seen(self) -> bool:
        """Whether the end marker's token ids have gone by (thinking closed, by id)."""
        return self._reasoning_end_at is not None

    def feed(self, text: str, token_ids: Sequence[int]) -> Split:
        self._count(token_ids)
        out = Split()
        self._held += text
        self._advance(out, final=False)
        return out

    def finish(self) -> Split:
        """Flushes held text at the end of the output."""
        out = Split()
        self._advance(out, final=True)
        return out

    def _count(self, token_ids: Sequence[int]) -> None:
        if self.markers is None or self._reasoning_end_at is not None:
            self._num_tokens += len(token_ids)
            return
        end = self.markers.end_ids
        for token_id in token_ids:
            self._num_tokens += 1
            if self._reasoning_end_at is not None:
                continue
            self._recent_ids.append(token_id)
            if len(self._recent_ids) > len(end):
                del self._recent_ids[0]
            if tuple(self._recent_ids) == end:
                self._reasoning_end_at = self._num_tokens

    def _advance(self, out: Split, *, final: bool) -> None:
        while True:
            if self.phase is Phase.MAYBE_START:
                if not self._maybe_start(out, final):
                    return
            elif self.phase is Phase.REASONING:
                if not self._reasoning(out, final):
                    return
            else:
                self._content(out, final)
                return

    def _maybe_start(self, out: Split, final: bool) -> bool:
        assert self.markers is not None
        stripped = self._held.lstrip()
        start = self.markers.start
        if stripped.startswith(start):
            self._held = stripped[len(start) :]
            self.phase = Phase.REASONING
            self._entered_reasoning = True
            return True
        if not final and start.startswith(stripped):
            return False  # could still become the start marker
        self.phase = Phase.CONTENT
        return True

    def _reasoning(self, out: Split, final: bool) -> bool:
        assert self.markers is not None
        end = self.markers.end
        at = self._held.find(end)
        if at >= 0:
            out.reasoning += self._visible(self._held[:at], "reasoning")
            self._held = self._held[at + len(end) :]
            self.phase = Phase.CONTENT
            return True
        keep = 0 if final else _held_prefix(self._held, end)
        out.reasoning += self._visible(self._held[: len(self._held) - keep], "reasoning")
        self._held = self._held[len(self._held) - keep :]
        return False

    def _content(self, out: Split, final: bool) -> None:
        out.content += self._visible(self._held, "content")
        self._held = ""

    def _visible(self, text: str, kind: str) -> str:
        """Drops the whitespace that opens a field (the newline after a marker)."""
        if kind in self._started:
            return text
        text = text.lstrip()
        if text:
            self._started.add(kind)
        return text
