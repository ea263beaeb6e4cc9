"""Property tests of the budget controller: random budgets, random segment endings.

A simulated engine answers each planned segment with any legal outcome (a stop
anywhere, the model closing thinking itself, the length bound); the invariants
must hold for every budget that `resolve_budget` accepts.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.budget import (
    Budget,
    BudgetController,
    BudgetRequest,
    Ending,
    Segment,
    SpliceTokens,
    resolve_budget,
)

maybe_tokens = st.none() | st.integers(0, 400)


@st.composite
def budgets(draw: st.DrawFn) -> tuple[Budget, int, SpliceTokens]:
    max_tokens = draw(st.integers(1, 600))
    marker = tuple(range(900, 900 + draw(st.integers(1, 2))))
    fields = {"min_thinking_tokens": draw(maybe_tokens),
              "max_thinking_tokens": draw(st.none() | st.integers(1, 400)),
              "answer_tokens": draw(maybe_tokens),
              "max_waits": draw(st.none() | st.integers(0, 10)),
              "wait_text": draw(st.none() | st.sampled_from(["Wait", ["Wait", "Hmm, wait"]]))}
    defaults = {"min_thinking_tokens": draw(st.none() | st.integers(0, 50)),
                "max_thinking_tokens": draw(st.none() | st.integers(50, 400)),
                "answer_tokens": draw(st.integers(0, 300)), "max_waits": 8}
    request = BudgetRequest(fields, thinking_token_budget=draw(st.none() | st.integers(-1, 300)),
                            effort="low", effort_cap=draw(st.none() | st.integers(1, 300)))
    try:
        budget = resolve_budget(request, defaults, max_tokens,
                                explicit_max_tokens=draw(st.booleans()),
                                num_end_marker_tokens=len(marker))
    except ValueError:
        budget = resolve_budget(BudgetRequest({"max_thinking_tokens": 1}), {}, max_tokens,
                                explicit_max_tokens=True, num_end_marker_tokens=len(marker)) \
            if max_tokens > len(marker) else Budget()
    waits = tuple(tuple(range(100, 100 + draw(st.integers(1, 6)))) for _ in budget.wait_texts)
    close = tuple(range(200, 200 + draw(st.integers(1, 40))))
    return budget, max_tokens, SpliceTokens(waits, close, marker, "</think>")


@given(budgets(), st.data())
@settings(max_examples=3000, deadline=None)
def test_every_plan_fits_and_every_promise_holds(case: tuple[Budget, int, SpliceTokens],
                                                 data: st.DataObject) -> None:
    budget, max_tokens, tokens = case
    c = BudgetController(budget, tokens, max_tokens)
    bound = c.thinking_bound
    if budget.is_active:
        assert budget.min_thinking_tokens + budget.answer_tokens + len(tokens.end_marker) \
            <= max_tokens
    finish = None
    for _ in range(4 * (budget.max_waits + 4)):
        plan = c.next_segment()
        was_thinking = c.thinking
        if isinstance(plan, Segment):
            remaining = max_tokens - c.num_output_tokens
            assert 1 <= plan.max_tokens <= remaining
            num_new, ending, closed = simulate(plan, c, data)
            step = c.end_segment(num_new, ending, **closed)
        else:
            step = plan
        assert c.num_output_tokens <= max_tokens
        if was_thinking and budget.is_active:
            closing = len(step.splice.token_ids) if step.splice and not c.thinking else 0
            # Thinking never passes its bound; the close goes on top of it.
            assert c.num_thinking_tokens - closing <= max(bound, 0)
        if was_thinking and not c.thinking and budget.is_active:
            # The answer reserve is whole when thinking ends.
            assert max_tokens - c.num_thinking_tokens >= budget.answer_tokens
        if step.finish_reason is not None:
            finish = step.finish_reason
            break
    assert finish in ("stop", "length"), "the choice must finish"
    if finish == "length" and c.num_output_tokens < max_tokens:
        assert len(tokens.end_marker) > max_tokens - c.num_output_tokens
    assert c.num_waits <= budget.max_waits


def simulate(plan: Segment, c: BudgetController, data: st.DataObject
             ) -> tuple[int, Ending, dict[str, int]]:
    """One engine segment's outcome, counted as ChoiceRun counts it."""
    num_tokens = data.draw(st.integers(1, plan.max_tokens))
    endings = [Ending.EOS, Ending.STOP]
    if num_tokens == plan.max_tokens:
        endings.append(Ending.LENGTH)
    if plan.stop_on_end_marker:
        endings.append(Ending.END_MARKER)
    ending = data.draw(st.sampled_from(endings))
    closes_itself = (c.budget.is_active and c.thinking and not plan.stop_on_end_marker
                     and data.draw(st.booleans()))
    if closes_itself:  # the model wrote its own end marker inside the segment
        num_thinking = data.draw(st.integers(1, num_tokens))
        return num_tokens, ending, {"num_thinking_tokens": num_thinking}
    replaced = ending in (Ending.END_MARKER, Ending.EOS) and c.replaces_stops
    return num_tokens - replaced, ending, {}


@given(budgets())
@settings(max_examples=1000, deadline=None)
def test_resolved_budgets_are_consistent(case: tuple[Budget, int, SpliceTokens]) -> None:
    budget, max_tokens, _ = case
    if budget.max_thinking_tokens is not None:
        assert budget.min_thinking_tokens <= budget.max_thinking_tokens
    if budget.is_active:
        assert 0 <= budget.answer_tokens < max_tokens
