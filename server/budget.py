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
    max_thinking_tokens: int | None = None  # 0: no thinking at all
    wait_texts: tuple[str, ...] = (DEFAULT_WAIT_TEXT,)
    max_waits: int = 8
    close_text: str = DEFAULT_CLOSE_TEXT
    answer_tokens: int = 0  # kept for the answer: a reserve implies a thinking bound

    @property
    def is_active(self) -> bool:
        return (self.min_thinking_tokens > 0 or self.max_thinking_tokens is not None
                or self.answer_tokens > 0)


class Ending(enum.Enum):
    """Why an engine segment ended."""

    END_MARKER = "end_marker"  # the model emitted the end-of-thinking marker (a stop id)
    EOS = "eos"
    LENGTH = "length"  # the segment's max_tokens
    STOP = "stop"  # a user stop string or stop token


@dataclass(frozen=True, slots=True)
class Segment:
    max_tokens: int
    # True only while a wait may still replace an end of thinking: otherwise the
    # model's own </think> flows into the answer in the same engine request, so a
    # budget that never binds leaves the output token for token as without one.
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
    """One choice's budget: plans segments and decides what each segment's end becomes.

    Every spliced token is accounted before it is spliced: a wait is inserted only
    if it fits below the thinking bound, and the close text only if it fits beside
    the answer reserve (else the end marker alone closes thinking), so no segment
    is ever planned with max_tokens < 1 and the output never exceeds max_tokens.
    """

    budget: Budget
    tokens: SpliceTokens
    max_tokens: int  # all completion tokens of the choice, inserted ones included
    thinking: bool = True
    # The answer starts in an engine request of its own (so it can be constrained to a
    # schema): thinking segments stop on the end marker even with no budget.
    answer_apart: bool = False
    num_output_tokens: int = 0
    num_thinking_tokens: int = 0
    num_waits: int = 0
    forced_close: bool = False
    _close_ids: tuple[int, ...] = field(init=False)
    _close_text: str = field(init=False)

    def __post_init__(self) -> None:
        full = self.tokens.close + self.tokens.end_marker
        room = self.max_tokens - self.budget.answer_tokens - len(full)
        # The close text only where it leaves thinking at least its own length and the
        # minimum: in a small max_tokens the marker alone closes (nothing is clipped
        # mid-text), and a cap of 0 has nothing to conclude.
        if self.budget.max_thinking_tokens != 0 and \
                room >= max(len(full), self.budget.min_thinking_tokens):
            self._close_ids, self._close_text = full, self.budget.close_text
        else:
            self._close_ids, self._close_text = self.tokens.end_marker, ""

    @property
    def thinking_bound(self) -> int:
        """Most thinking tokens (waits included) before the close is forced."""
        bound = self.max_tokens - self.budget.answer_tokens - len(self._close_ids)
        if self.budget.max_thinking_tokens is not None:
            bound = min(bound, self.budget.max_thinking_tokens)
        return bound

    @property
    def replaces_stops(self) -> bool:
        """Whether an end marker or EOS ending a segment is the controller's to replace."""
        return self._controls and self.thinking

    @property
    def _controls(self) -> bool:
        return self.budget.is_active or self.answer_apart

    def next_segment(self) -> Segment | Step:
        """The next engine segment, or a step to take first (a forced close, or the end)."""
        remaining = self.max_tokens - self.num_output_tokens
        if remaining <= 0:
            return Step(finish_reason="length")
        if not self._controls or not self.thinking:
            return Segment(max_tokens=remaining, stop_on_end_marker=False)
        room = self.thinking_bound - self.num_thinking_tokens
        if room <= 0:
            return self._close(forced=True)
        return Segment(max_tokens=min(room, remaining),
                       stop_on_end_marker=self._may_wait or self.answer_apart)

    def end_segment(self, num_new_tokens: int, ending: Ending, *,
                    num_thinking_tokens: int | None = None) -> Step:
        """Accounts a finished segment (without a replaced marker/EOS) and says what next.

        `num_thinking_tokens` is set when the model closed thinking itself inside the
        segment: how many of its new tokens, the end marker included, were thinking.
        """
        if self.thinking and num_thinking_tokens is not None:
            self.num_output_tokens += num_new_tokens
            self.num_thinking_tokens += num_thinking_tokens
            self.thinking = False
        else:
            self._count(num_new_tokens)
        if ending is Ending.STOP:
            return Step(finish_reason="stop")
        if ending is Ending.LENGTH:
            if self.num_output_tokens >= self.max_tokens:
                return Step(finish_reason="length")
            step = self.next_segment()  # the thinking bound: a forced close
            return step if isinstance(step, Step) else Step()
        if not self._controls or not self.thinking:
            return Step(finish_reason="stop")
        if self._may_wait and self._wait_fits:
            return self._wait()
        # An accepted end of thinking keeps the model's marker; an EOS inside
        # thinking is closed with the close text: a budget always gets an answer.
        return self._close(forced=ending is Ending.EOS)

    @property
    def _may_wait(self) -> bool:
        return (self.num_thinking_tokens < self.budget.min_thinking_tokens
                and self.num_waits < self.budget.max_waits)

    @property
    def _wait_fits(self) -> bool:
        # The wait plus at least one token of the model's own must fit below the bound.
        return self.num_thinking_tokens + len(self._wait_ids) < self.thinking_bound

    @property
    def _wait_ids(self) -> tuple[int, ...]:
        return self.tokens.waits[self.num_waits % len(self.tokens.waits)]

    def _count(self, num_tokens: int) -> None:
        self.num_output_tokens += num_tokens
        if self.thinking:
            self.num_thinking_tokens += num_tokens

    def _wait(self) -> Step:
        ids = self._wait_ids
        text = self.budget.wait_texts[self.num_waits % len(self.tokens.waits)]
        self.num_waits += 1
        self._count(len(ids))
        return Step(Splice(ids, text))

    def _close(self, *, forced: bool) -> Step:
        ids, text = (self._close_ids, self._close_text) if forced else \
            (self.tokens.end_marker, "")
        remaining = self.max_tokens - self.num_output_tokens
        if len(ids) > remaining:  # only when max_tokens is below the marker's length
            return Step(finish_reason="length")
        self.forced_close = self.forced_close or forced
        self._count(len(ids))
        self.thinking = False
        return Step(Splice(ids, text, self.tokens.end_marker_text))


@dataclass(frozen=True, slots=True)
class BudgetRequest:
    """What a request asked of the budget, before server defaults."""

    fields: dict[str, object]  # `budget_forcing`'s fields; unset ones are None
    thinking_token_budget: int | None = None  # vLLM's name: -1 unlimited, 0 no thinking
    effort: str | None = None  # reasoning_effort
    effort_cap: int | None = None  # the cap the server maps `effort` to


def resolve_budget(request: BudgetRequest, defaults: dict[str, object], max_tokens: int, *,
                   explicit_max_tokens: bool, num_end_marker_tokens: int = 1,
                   thinking_off_reason: str | None = None) -> Budget:
    """Request fields over server defaults (docs/budget_forcing.md, "How fields combine").

    A default that cannot apply is dropped; an explicit field that cannot is a
    ValueError naming it (the service answers 400).
    """
    explicit = {k: v for k, v in request.fields.items() if v is not None}
    cap_name = "budget_forcing.max_thinking_tokens"
    lifted = False
    if "max_thinking_tokens" not in explicit:
        if request.thinking_token_budget is not None:
            cap_name = "thinking_token_budget"
            if request.thinking_token_budget < 0:
                lifted = True  # explicit "unlimited" lifts the server's default cap
            else:
                explicit["max_thinking_tokens"] = request.thinking_token_budget
        elif request.effort_cap is not None:
            cap_name = f"reasoning_effort '{request.effort}'"
            explicit["max_thinking_tokens"] = request.effort_cap
    merged = {k: v for k, v in defaults.items() if v is not None and k not in explicit}
    if lifted:
        merged.pop("max_thinking_tokens", None)
    if thinking_off_reason is not None:
        asked = (explicit.get("min_thinking_tokens") or explicit.get("answer_tokens")
                 or explicit.get("max_thinking_tokens"))  # a cap of 0 is already met
        if asked:
            raise ValueError(f"a thinking budget cannot apply: {thinking_off_reason}")
        return Budget()
    merged.update(explicit)
    _drop_default_conflict(merged, explicit, cap_name)
    wait = merged.pop("wait_text", DEFAULT_WAIT_TEXT)
    wait_texts = (wait,) if isinstance(wait, str) else tuple(wait)  # type: ignore[arg-type]
    if not wait_texts or not all(wait_texts):
        raise ValueError("budget_forcing.wait_text: must be non-empty")
    answer = merged.pop("answer_tokens", 0)
    budget = Budget(wait_texts=wait_texts, **merged)  # type: ignore[arg-type]
    if not budget.is_active and "answer_tokens" not in explicit:
        return Budget()  # a default answer reserve alone asks for nothing
    assert isinstance(answer, int)
    room = max_tokens - num_end_marker_tokens
    limit = f"max_tokens ({max_tokens})" if explicit_max_tokens else \
        f"the {max_tokens} output tokens the context leaves"
    if "answer_tokens" in explicit:
        if answer >= max_tokens:
            raise ValueError(f"budget_forcing.answer_tokens ({answer}) must be below {limit}")
    else:  # a default reserve takes at most half, and never the minimum's room
        answer = max(0, min(answer, max_tokens // 2, room - budget.min_thinking_tokens))
    if budget.min_thinking_tokens + answer > room:
        raise ValueError(
            f"budget_forcing.min_thinking_tokens ({budget.min_thinking_tokens}) plus "
            f"answer_tokens ({answer}) and the end marker ({num_end_marker_tokens}) "
            f"exceed {limit}")
    return replace(budget, answer_tokens=answer)


def _drop_default_conflict(merged: dict[str, object], explicit: dict[str, object],
                           cap_name: str) -> None:
    """A minimum above the cap: a 400 if both were asked for, else the default yields."""
    low, cap = merged.get("min_thinking_tokens"), merged.get("max_thinking_tokens")
    if not isinstance(low, int) or not isinstance(cap, int) or low <= cap:
        return
    if "min_thinking_tokens" in explicit and "max_thinking_tokens" in explicit:
        raise ValueError(f"budget_forcing.min_thinking_tokens ({low}) is above "
                         f"max_thinking_tokens ({cap}, from {cap_name})")
    del merged["max_thinking_tokens" if "min_thinking_tokens" in explicit
               else "min_thinking_tokens"]
