"""The spine of a request: engine -> (budget controller) -> reasoning splitter -> events.

One `ChoiceRun` per choice holds all of that choice's state; `run_choices`
merges the choices of a request into one ordered event stream.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from server.budget import BudgetController, Ending, Segment, Splice, Step
from server.engine import Engine, EngineDelta, GenerationParams, TokenLogprob
from server.errors import EngineUnavailableError
from server.reasoning import ReasoningSplitter


@dataclass(slots=True)
class ChoiceEvent:
    """What one choice produced since its last event."""

    index: int
    reasoning: str = ""
    content: str = ""
    finish_reason: str | None = None
    budget_event: str | None = None  # "wait" or "close": this event's text was inserted
    # Sampled tokens' logprobs, when asked for; spliced tokens (waits, close text, a
    # spliced end marker) and the token that stopped generation have none.
    reasoning_logprobs: list[TokenLogprob] = field(default_factory=list)
    content_logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass(slots=True)
class ChoiceRun:
    """One choice: engine segments, spliced by the budget controller, then split."""

    index: int
    engine: Engine
    prompt_ids: list[int]
    params: GenerationParams
    engine_request_id: str
    splitter: ReasoningSplitter
    controller: BudgetController
    end_marker_id: int | None = None
    num_completion_tokens: int = 0
    finish_reason: str | None = None
    _output_ids: list[int] = field(default_factory=list)
    _segment_step: Step = field(default_factory=Step)

    @property
    def num_reasoning_tokens(self) -> int:
        return self.splitter.num_reasoning_tokens

    async def events(self, *, stream: bool) -> AsyncIterator[ChoiceEvent]:
        for segment_no in itertools.count():
            plan = self.controller.next_segment()
            if isinstance(plan, Segment):
                async for event in self._segment(plan, segment_no, stream):
                    if event.reasoning or event.content or event.reasoning_logprobs \
                            or event.content_logprobs:
                        yield event
                step = self._segment_step
            else:
                step = plan
            if step.splice is not None:
                yield self._splice(step.splice)
            if step.finish_reason is not None:
                tail = self.splitter.finish()
                self.finish_reason = step.finish_reason
                yield ChoiceEvent(self.index, tail.reasoning, tail.content, step.finish_reason)
                return

    async def _segment(self, plan: Segment, segment_no: int, stream: bool
                       ) -> AsyncIterator[ChoiceEvent]:
        """Streams one engine request; leaves the controller's verdict in _segment_step."""
        # Thinking closed (or never opened): this segment is the answer.
        params = self._segment_params(plan, segment_no, answer=not self.controller.thinking)
        num_new_tokens = 0
        reasoning_at_start = self.num_reasoning_tokens
        closed_at_start = self.splitter.end_marker_seen
        deltas = self.engine.generate(self.prompt_ids + self._output_ids, params,
                                      f"{self.engine_request_id}-{segment_no}", stream=stream)
        async for delta in deltas:
            ending = None if delta.finish_reason is None else self._ending(delta)
            ids, text, last = delta.token_ids, delta.text, []
            logprobs = delta.logprobs
            if ending in (Ending.END_MARKER, Ending.EOS, Ending.STOP) and ids:
                # The engine leaves a stop token's text out: the last id is fed apart,
                # once we know whether thinking was still open when it came.
                ids, last = ids[:-1], ids[-1:]
                logprobs = logprobs[:-1] if logprobs else logprobs
            event = self._feed(text, ids, logprobs)
            if last and not (ending in (Ending.END_MARKER, Ending.EOS) and self._thinking_open):
                ids = ids + last
                self._merge(event, self._feed(self._stop_text(delta), last))
            num_new_tokens += len(ids)
            if ending is not None:
                closed_here = self.splitter.end_marker_seen and not closed_at_start
                self._segment_step = self.controller.end_segment(
                    num_new_tokens, ending, num_thinking_tokens=(
                        self.num_reasoning_tokens - reasoning_at_start if closed_here else None))
            yield event

    @property
    def _thinking_open(self) -> bool:
        """Still thinking under a budget: an end marker or EOS now is the controller's."""
        return self.controller.replaces_stops and not self.splitter.end_marker_seen

    def _stop_text(self, delta: EngineDelta) -> str:
        """The stop token's text as vLLM would show it without a budget.

        A user stop string inside the end marker's text ("</think>") cuts it there;
        any other stop token's text is left out, as vLLM leaves it out.
        """
        cut = self._marker_stop_cut()
        if cut is None or delta.stop_reason != self.end_marker_id:
            return ""
        assert self.splitter.markers is not None
        return self.splitter.markers.end[:cut]

    def _marker_stop_cut(self) -> int | None:
        """Where a user stop string found in the end marker's text cuts it, if one is."""
        markers = self.splitter.markers
        if markers is None:
            return None
        cuts = [markers.end.find(s) for s in self.params.stop if s in markers.end]
        return min(cuts) if cuts else None

    @staticmethod
    def _merge(event: ChoiceEvent, more: ChoiceEvent) -> None:
        event.reasoning += more.reasoning
        event.content += more.content
        event.reasoning_logprobs += more.reasoning_logprobs
        event.content_logprobs += more.content_logprobs

    def _segment_params(self, plan: Segment, segment_no: int, *,
                        answer: bool) -> GenerationParams:
        stop_ids = list(self.params.stop_token_ids)
        if plan.stop_on_end_marker and self.end_marker_id is not None:
            stop_ids.append(self.end_marker_id)
        # min_tokens holds back EOS and stop ids: while a wait may replace the end
        # marker it would hold back the marker too, so it applies from the answer on.
        min_tokens = 0 if plan.stop_on_end_marker else \
            max(0, self.params.min_tokens - self.num_completion_tokens)
        return replace(self.params, max_tokens=plan.max_tokens, stop_token_ids=stop_ids,
                       seed=segment_seed(self.params.seed, segment_no),
                       min_tokens=min(min_tokens, plan.max_tokens),
                       structured=self.params.structured if answer else None)

    def _ending(self, delta: EngineDelta) -> Ending:
        if delta.finish_reason == "length":
            return Ending.LENGTH
        if delta.finish_reason in ("abort", "error"):
            # Our own aborts cancel this task first: this is the engine giving up.
            raise EngineUnavailableError(f"the engine ended the request ({delta.finish_reason})")
        if delta.stop_reason is None and delta.finish_reason == "stop":
            return Ending.EOS
        if delta.stop_reason == self.end_marker_id and self.end_marker_id not in \
                self.params.stop_token_ids and self._marker_stop_cut() is None:
            return Ending.END_MARKER  # ours to replace; a user stop on it is the user's
        return Ending.STOP

    def _feed(self, text: str, ids: list[int],
              logprobs: list[TokenLogprob] | None = None) -> ChoiceEvent:
        self._output_ids.extend(ids)
        self.num_completion_tokens += len(ids)
        first = self.splitter.num_tokens
        split = self.splitter.feed(text, ids)
        event = ChoiceEvent(self.index, split.reasoning, split.content)
        for position, logprob in enumerate(logprobs or (), start=first):
            phase = self.splitter.token_phase(position)
            if phase == "reasoning":
                event.reasoning_logprobs.append(logprob)
            elif phase == "content":
                event.content_logprobs.append(logprob)
        return event

    def _splice(self, splice: Splice) -> ChoiceEvent:
        event = self._feed(splice.visible_text + splice.marker_text, list(splice.token_ids))
        if splice.visible_text:
            event.budget_event = "close" if splice.marker_text else "wait"
        return event


# Continuation segments get their own seeds so their sampling noise differs.
SEGMENT_SEED_STRIDE = 7919
SEED_MODULUS = 2**64  # seeds are int64, as vLLM's server accepts them


def wrap_seed(seed: int) -> int:
    """`seed` folded into the int64 range, so derived seeds never overflow."""
    return (seed + 2**63) % SEED_MODULUS - 2**63


def segment_seed(seed: int | None, segment_no: int) -> int | None:
    if seed is None or not segment_no:
        return seed
    return wrap_seed(seed + SEGMENT_SEED_STRIDE * segment_no)


async def run_choices(choices: list[ChoiceRun], *, stream: bool) -> AsyncIterator[ChoiceEvent]:
    """Events of all choices, interleaved as they come; cancelling stops them all."""
    if len(choices) == 1:
        async for event in choices[0].events(stream=stream):
            yield event
        return
    queue: asyncio.Queue[ChoiceEvent | BaseException | None] = asyncio.Queue()
    tasks = [asyncio.create_task(_pump(c, queue, stream)) for c in choices]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(choice: ChoiceRun, queue: asyncio.Queue[ChoiceEvent | BaseException | None],
                stream: bool) -> None:
    try:
        async for event in choice.events(stream=stream):
            queue.put_nowait(event)
        queue.put_nowait(None)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # re-raised by the consumer, which maps it to an error body
        queue.put_nowait(exc)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    budget_forcing: dict[str, int] | None = None

    @classmethod
    def of(cls, num_prompt_tokens: int, choices: list[ChoiceRun]) -> Usage:
        forcing = None
        if any(c.controller.budget.is_active for c in choices):
            forcing = {
                "waits_inserted": sum(c.controller.num_waits for c in choices),
                "forced_closes": sum(c.controller.forced_close for c in choices),
                "thinking_tokens": sum(c.controller.num_thinking_tokens for c in choices),
            }
        return cls(
            prompt_tokens=num_prompt_tokens,
            completion_tokens=sum(c.num_completion_tokens for c in choices),
            reasoning_tokens=sum(c.num_reasoning_tokens for c in choices),
            budget_forcing=forcing,
        )




@dataclass(slots=True)
class ChoiceTotal:
    """One choice's events added up, for a non-streamed response."""

    reasoning: str = ""
    content: str = ""
    finish_reason: str | None = None
    reasoning_logprobs: list[TokenLogprob] = field(default_factory=list)
    content_logprobs: list[TokenLogprob] = field(default_factory=list)

    def add(self, event: ChoiceEvent) -> None:
        self.reasoning += event.reasoning
        self.content += event.content
        self.finish_reason = event.finish_reason
        self.reasoning_logprobs += event.reasoning_logprobs
        self.content_logprobs += event.content_logprobs
