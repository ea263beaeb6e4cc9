"""The budget state machine on recorded segment endings (pure logic, no engine)."""

from __future__ import annotations

import pytest

from server.budget import (
    Budget,
    BudgetController,
    BudgetRequest,
    Ending,
    Segment,
    SpliceTokens,
    Step,
    resolve_budget,
)

TOKENS = SpliceTokens(waits=((101,), (102, 103)), close=(201, 202, 203), end_marker=(9,),
                      end_marker_text="</think>")


def controller(max_tokens: int = 1000, **budget: object) -> BudgetController:
    return BudgetController(Budget(**budget), TOKENS, max_tokens)  # type: ignore[arg-type]


def segment(c: BudgetController) -> Segment:
    plan = c.next_segment()
    assert isinstance(plan, Segment)
    return plan


def test_inactive_budget_is_one_plain_segment() -> None:
    c = controller()
    assert segment(c) == Segment(max_tokens=1000, stop_on_end_marker=False)
    assert c.end_segment(40, Ending.EOS).finish_reason == "stop"
    assert not c.replaces_stops


def test_early_stop_gets_wait_texts_in_turn_until_the_minimum() -> None:
    c = controller(min_thinking_tokens=50, wait_texts=("Wait", "Hmm"))
    assert segment(c).stop_on_end_marker
    first = c.end_segment(20, Ending.END_MARKER)
    assert first.splice is not None and first.splice.token_ids == (101,)
    assert first.splice.visible_text == "Wait" and not first.is_finished
    second = c.end_segment(20, Ending.EOS)  # EOS below the minimum is an attempt to stop too
    assert second.splice is not None and second.splice.token_ids == (102, 103)
    assert second.splice.visible_text == "Hmm"
    assert c.num_thinking_tokens == 20 + 1 + 20 + 2 and c.num_waits == 2
    accepted = c.end_segment(10, Ending.END_MARKER)  # 53 >= 50: the stop stands
    assert accepted.splice is not None and accepted.splice.token_ids == (9,)
    assert accepted.splice.visible_text == "" and accepted.splice.marker_text == "</think>"
    assert not c.thinking and not c.forced_close
    assert segment(c) == Segment(max_tokens=1000 - c.num_output_tokens, stop_on_end_marker=False)
    assert c.end_segment(30, Ending.EOS).finish_reason == "stop"


def test_max_waits_lets_the_stop_stand() -> None:
    c = controller(min_thinking_tokens=500, max_waits=1)
    assert c.end_segment(10, Ending.END_MARKER).splice.visible_text == "Wait"  # type: ignore[union-attr]
    step = c.end_segment(10, Ending.END_MARKER)
    assert step.splice is not None and step.splice.token_ids == (9,) and c.num_waits == 1


def test_cap_closes_thinking_with_the_close_text() -> None:
    c = controller(max_thinking_tokens=100, close_text="Answer now.")
    assert segment(c).max_tokens == 100
    step = c.end_segment(100, Ending.LENGTH)
    assert step.splice is not None and step.splice.token_ids == (201, 202, 203, 9)
    assert step.splice.visible_text == "Answer now." and c.forced_close
    assert c.num_thinking_tokens == 104 and not c.thinking


def test_answer_reserve_caps_thinking_for_a_small_max_tokens() -> None:
    c = controller(max_tokens=120, min_thinking_tokens=10, answer_tokens=40)
    # 120 - 40 reserved - 4 close tokens = 76 thinking tokens at most
    assert segment(c).max_tokens == 76
    assert c.end_segment(76, Ending.LENGTH).splice is not None and c.forced_close
    answer = segment(c)
    assert answer.max_tokens == 120 - 80 and not answer.stop_on_end_marker


def test_eos_above_the_minimum_still_gets_an_answer() -> None:
    c = controller(min_thinking_tokens=5)
    step = c.end_segment(30, Ending.EOS)
    assert step.splice is not None and c.forced_close and not c.thinking


def test_user_stop_ends_the_choice() -> None:
    c = controller(min_thinking_tokens=100)
    assert c.end_segment(5, Ending.STOP).finish_reason == "stop"


def test_no_room_for_the_close_text_closes_with_the_marker_alone() -> None:
    # 10 tokens, 8 reserved: the 4-token close text cannot fit, the 1-token marker can.
    c = controller(max_tokens=10, max_thinking_tokens=5, answer_tokens=8)
    assert segment(c).max_tokens == 1
    step = c.end_segment(1, Ending.LENGTH)
    assert step.splice is not None and step.splice.token_ids == (9,) and c.forced_close
    assert step.splice.visible_text == ""
    assert segment(c).max_tokens == 8  # the reserve, whole


def test_max_tokens_below_the_marker_ends_without_a_segment() -> None:
    c = controller(max_tokens=1, max_thinking_tokens=5)
    step = c.next_segment()  # bound 0: the marker alone closes, and fills max_tokens
    assert isinstance(step, Step) and step.splice is not None and step.splice.token_ids == (9,)
    assert c.next_segment() == Step(finish_reason="length")


def test_a_wait_that_does_not_fit_below_the_bound_is_skipped() -> None:
    c = controller(max_tokens=100, min_thinking_tokens=90, answer_tokens=0)
    # bound: 100 - 4 (close) = 96; at 95 thinking tokens a 2-token wait cannot fit
    c.end_segment(40, Ending.END_MARKER)  # wait "Wait" (1 token)
    step = c.end_segment(54, Ending.END_MARKER)
    assert step.splice is not None and step.splice.token_ids == (9,)  # the stop stands
    assert c.num_thinking_tokens == 40 + 1 + 54 + 1 and c.num_waits == 1


def test_zero_cap_closes_at_once_with_the_marker_alone() -> None:
    c = controller(max_thinking_tokens=0)
    step = c.next_segment()
    assert isinstance(step, Step) and step.splice is not None
    assert step.splice.token_ids == (9,) and step.splice.visible_text == ""


def test_answer_reserve_alone_bounds_thinking() -> None:
    c = controller(max_tokens=48, answer_tokens=16)
    assert segment(c).max_tokens == 48 - 16 - 4 and not segment(c).stop_on_end_marker


def test_cap_without_minimum_lets_the_model_close_thinking_itself() -> None:
    c = controller(max_tokens=1000, max_thinking_tokens=500)
    plan = segment(c)
    assert plan.max_tokens == 500 and not plan.stop_on_end_marker
    # The model closed thinking after 120 tokens and answered 380 in the same segment.
    step = c.end_segment(500, Ending.LENGTH, num_thinking_tokens=120)
    assert step == Step() and not c.thinking and not c.forced_close
    assert c.num_thinking_tokens == 120
    assert segment(c) == Segment(max_tokens=500, stop_on_end_marker=False)


def resolve(fields: dict[str, object], defaults: dict[str, object] | None = None,
            max_tokens: int = 500, **request: object) -> object:
    return resolve_budget(BudgetRequest(fields, **request),  # type: ignore[arg-type]
                          defaults or {}, max_tokens, explicit_max_tokens=True)


@pytest.mark.parametrize(("fields", "words"), [
    ({"min_thinking_tokens": 300, "max_thinking_tokens": 200}, "above max_thinking_tokens"),
    ({"max_thinking_tokens": 200, "answer_tokens": 500}, "below max_tokens"),
    ({"min_thinking_tokens": 450, "answer_tokens": 100}, "exceed max_tokens"),
    ({"min_thinking_tokens": 500}, "exceed max_tokens"),  # the end marker needs one
])
def test_conflicts_name_the_fields(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        resolve(fields)


def test_defaults_fill_unset_fields_and_shrink_for_small_max_tokens() -> None:
    defaults = {"min_thinking_tokens": None, "max_thinking_tokens": 64, "wait_text": "Hmm",
                "max_waits": 3, "close_text": "Done.", "answer_tokens": 256}
    budget = resolve({"min_thinking_tokens": 8}, defaults, max_tokens=100)
    assert isinstance(budget, Budget)
    assert budget.max_thinking_tokens == 64 and budget.wait_texts == ("Hmm",)
    assert budget.answer_tokens == 50  # a default takes at most half of max_tokens
    assert not resolve({}, {**defaults, "max_thinking_tokens": None}, 100).is_active  # type: ignore[attr-defined]


DEFAULTS = {"min_thinking_tokens": None, "max_thinking_tokens": 40, "answer_tokens": 256}


def test_explicit_unlimited_lifts_the_default_cap_and_the_effort() -> None:
    assert not resolve({}, DEFAULTS, thinking_token_budget=-1).is_active  # type: ignore[attr-defined]
    budget = resolve({"min_thinking_tokens": 100}, DEFAULTS, 2000, thinking_token_budget=-1,
                     effort="low", effort_cap=16)
    assert isinstance(budget, Budget) and budget.max_thinking_tokens is None


def test_a_default_that_cannot_apply_is_dropped() -> None:
    # An explicit minimum above the default cap lifts the cap ...
    budget = resolve({"min_thinking_tokens": 100}, DEFAULTS, 2000)
    assert isinstance(budget, Budget) and budget.max_thinking_tokens is None
    # ... the default reserve shrinks to leave the minimum its room ...
    budget = resolve({"min_thinking_tokens": 90}, {"answer_tokens": 256}, 100)
    assert isinstance(budget, Budget) and budget.answer_tokens == 9
    # ... and with thinking off, defaults simply do not apply.
    off = resolve_budget(BudgetRequest({}), DEFAULTS, 500, explicit_max_tokens=False,
                         thinking_off_reason="thinking is off")
    assert not off.is_active


def test_an_explicit_budget_that_cannot_apply_is_a_400() -> None:
    with pytest.raises(ValueError, match="thinking is off"):
        resolve_budget(BudgetRequest({"max_thinking_tokens": 10}), {}, 500,
                       explicit_max_tokens=False, thinking_off_reason="thinking is off")
    with pytest.raises(ValueError, match="reasoning_effort 'low'"):
        resolve({"min_thinking_tokens": 100}, {}, 2000, effort="low", effort_cap=16)


def test_an_answer_reserve_alone_is_a_budget_and_a_default_one_is_not() -> None:
    assert resolve({"answer_tokens": 16}, {}, 48).is_active  # type: ignore[attr-defined]
    assert not resolve({}, {"answer_tokens": 256}, 48).is_active  # type: ignore[attr-defined]


def test_an_answer_apart_starts_in_its_own_segment_without_a_budget() -> None:
    """A constrained answer (response_format) needs thinking to stop on its end marker."""
    c = BudgetController(Budget(), TOKENS, 1000, answer_apart=True)
    assert c.replaces_stops and segment(c).stop_on_end_marker
    closed = c.end_segment(40, Ending.END_MARKER)  # the model closes: its marker is spliced
    assert closed.splice is not None and closed.splice.token_ids == (9,) and not c.thinking
    assert segment(c) == Segment(max_tokens=1000 - 41, stop_on_end_marker=False)
    assert c.end_segment(5, Ending.EOS).finish_reason == "stop"
    dropped = BudgetController(Budget(), TOKENS, 1000, answer_apart=True)
    segment(dropped)
    closing = dropped.end_segment(40, Ending.EOS)  # an EOS inside thinking still gets an answer
    assert closing.splice is not None and closing.splice.token_ids == (201, 202, 203, 9)
    unopened = BudgetController(Budget(), TOKENS, 1000, thinking=False, answer_apart=True)
    assert segment(unopened) == Segment(max_tokens=1000, stop_on_end_marker=False)
