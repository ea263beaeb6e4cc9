"""Budget forcing (s1): per-choice control of how long the model thinks.

The controller is pure logic. Generation runs in segments: while thinking, a
segment stops on the end-of-thinking marker (or EOS) or at the thinking
bound; the controller then decides what to splice in before the next segment:
the wait text (an attempt to stop below the minimum), the close text plus the
marker (the cap, or EOS above the minimum), or the marker alone (an accepted
stop). The answer is one final segment.

Why segments re-submitted with prompt + output ids, and not a logits processor
or vLLM's resumable streaming input: prefix caching makes a continuation
re-prefill at most one partial KV block plus the spliced tokens; it keeps stop
strings, seeds and FINAL_ONLY (which streaming input rejects); and a logits
processor could only mask `</think>`, not replace a sampled one with "Wait".
The measured cost is in docs/budget_forcing.md (`launch/bench_budget.py`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

DEFAULT_WAIT_TEXT = "Wait"
DEFAULT_CLOSE_TEXT = "\n\nI have thought about this enough; time to give the answer.\n"


@dataclass(frozen=True, slots=True)
class Budget:
    """A request's resolved budget; all limits in tokens."""

    min_thinking_tokens: int = 0
    max_thinking_tokens: int | None = None
    wait_texts: tuple[str, ...] = (DEFAULT_WAIT_TEXT,)
    max_waits: int = 8
    close_text: str = DEFAULT_CLOSE_TEXT
    answer_tokens: int = 0

    @property
    def is_active(self) -> bool:
        return self.min_thinking_tokens > 0 or self.max_thinking_tokens is not None


class Ending(enum.Enum):
    """Why an engine segment ended."""

    END_MARKER = "end_marker"  # the model emitted the end-of-thinking marker
    EOS = "eos"
    LENGTH = "length"  # the segment's max_tokens
    STOP = "stop"  # a user stop string or stop token


@dataclass(frozen=True, slots=True)
class Segment:
    max_tokens: int
    stop_on_end_marker: bool


@dataclass(frozen=True, slots=True)
class Splice:
    """Tokens to append to the output before the next segment."""

    token_ids: tuple[int, ...]
    visible_text: str  # what streams as reasoning
    marker_text: str = ""  # the end marker's text: fed to the splitter, never shown


@dataclass(slots=True)
class Step:
    splice: Splice | None = None
    finish_reason: str | None = None  # set when the choice is finished

    @property
    def is_finished(self) -> bool:
        return self.finish_reason is not None


@dataclass(frozen=True, slots=True)
class SpliceTokens:
    """Token ids of the texts the controller splices in, encoded once per request."""

    waits: tuple[tuple[int, ...], ...]
    close: tuple[int, ...]
    end_marker: tuple[int, ...]
    end_marker_text: str


@dataclass(slots=True)
class BudgetController:
    budget: Budget
    tokens: SpliceTokens
    max_tokens: int  # all completion tokens of the choice, inserted ones included
    thinking: bool = True
    num_output_tokens: int = 0
    num_thinking_tokens: int = 0
    num_waits: int = 0
    forced_close: bool = False
    _close_len: int = field(init=False)

    def __post_init__(self) -> None:
        self._close_len = len(self.tokens.close) + len(self.tokens.end_marker)

    @property
    def replaces_stops(self) -> bool:
        """Whether an end marker or EOS ending a segment is the controller's to replace."""
        return self.budget.is_active and self.thinking

    @property
    def _thinking_bound(self) -> int:
        """Most thinking tokens allowed before the close is forced."""
        bound = self.max_tokens - self.budget.answer_tokens - self._close_len
        if self.budget.max_thinking_tokens is not None:
            bound = min(bound, self.budget.max_thinking_tokens)
        return bound

    def next_segment(self) -> Segment | Step:
        """The next engine segment, or a step to take first (a forced close)."""
        remaining = self.max_tokens - self.num_output_tokens
        if not self.budget.is_active or not self.thinking:
            return Segment(max_tokens=remaining, stop_on_end_marker=False)
        room = self._thinking_bound - self.num_thinking_tokens
        if room <= 0:
            return self._close(forced=True)
        return Segment(max_tokens=min(room, remaining), stop_on_end_marker=True)

    def end_segment(self, num_new_tokens: int, ending: Ending) -> Step:
        """Accounts a finished segment (without a replaced marker/EOS) and says what next."""
        self._count(num_new_tokens)
        if not self.budget.is_active or not self.thinking or ending is Ending.STOP:
            return Step(finish_reason="length" if ending is Ending.LENGTH else "stop")
        if ending is Ending.LENGTH:
            if self.num_output_tokens >= self.max_tokens:
                return Step(finish_reason="length")
            step = self.next_segment()
            if isinstance(step, Step):
                return step
            return Step()  # below the bound: the output limit itself is not reached
        if self.num_thinking_tokens < self.budget.min_thinking_tokens and \
                self.num_waits < self.budget.max_waits:
            return self._wait()
        if ending is Ending.EOS:
            # Stopping without an answer is never what a budget asked for.
            return self._close(forced=True)
        return self._close(forced=False)

    def _count(self, num_tokens: int) -> None:
        self.num_output_tokens += num_tokens
        if self.thinking:
            self.num_thinking_tokens += num_tokens

    def _wait(self) -> Step:
        waits = self.tokens.waits
        ids = waits[self.num_waits % len(waits)]
        text = self.budget.wait_texts[self.num_waits % len(waits)]
        self.num_waits += 1
        self._count(len(ids))
        return Step(Splice(ids, text))

    def _close(self, *, forced: bool) -> Step:
        ids = self.tokens.end_marker
        text = ""
        if forced:
            ids = self.tokens.close + ids
            text = self.budget.close_text
            self.forced_close = True
        self._count(len(ids))
        self.thinking = False
        return Step(Splice(ids, text, self.tokens.end_marker_text))


def resolve_budget(fields: dict[str, object], defaults: dict[str, object],
                   max_tokens: int, explicit_max_tokens: bool) -> Budget:
    """Request fields over server defaults; a conflict is a ValueError naming the field."""
    merged = {k: v for k, v in defaults.items() if v is not None}
    merged.update({k: v for k, v in fields.items() if v is not None})
    wait = merged.pop("wait_text", DEFAULT_WAIT_TEXT)
    wait_texts = (wait,) if isinstance(wait, str) else tuple(wait)  # type: ignore[arg-type]
    if not wait_texts or not all(wait_texts):
        raise ValueError("budget_forcing.wait_text: must be non-empty")
    budget = Budget(wait_texts=wait_texts, **merged)  # type: ignore[arg-type]
    if not budget.is_active:
        return budget
    if budget.max_thinking_tokens is not None and \
            budget.min_thinking_tokens > budget.max_thinking_tokens:
        raise ValueError(f"budget_forcing.min_thinking_tokens ({budget.min_thinking_tokens}) is "
                         f"above max_thinking_tokens ({budget.max_thinking_tokens})")
    if "answer_tokens" in fields and fields["answer_tokens"] is not None:
        if budget.answer_tokens >= max_tokens:
            raise ValueError(f"budget_forcing.answer_tokens ({budget.answer_tokens}) must be "
                             f"below max_tokens ({max_tokens})")
    elif budget.answer_tokens >= max_tokens // 2:
        # A server default never takes more than half of a small max_tokens.
        budget = replace(budget, answer_tokens=max_tokens // 2)
    if explicit_max_tokens and budget.min_thinking_tokens + budget.answer_tokens > max_tokens:
        raise ValueError(f"budget_forcing.min_thinking_tokens ({budget.min_thinking_tokens}) plus "
                         f"answer_tokens ({budget.answer_tokens}) exceed max_tokens ({max_tokens})")
    return budget
