"""The splitter on recorded token streams: real tokenizer, every way of cutting deltas."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.prompts import load_tokenizer
from server.reasoning import ReasoningSplitter, Split, ThinkMarkers

MODEL = Path(__file__).resolve().parent.parent / "models" / "aha-demo"
TOKENIZER = load_tokenizer(MODEL)
MARKERS = ThinkMarkers(
    "<think>", "</think>",
    tuple(TOKENIZER.encode("<think>", add_special_tokens=False)),
    tuple(TOKENIZER.encode("</think>", add_special_tokens=False)),
)


def reference_split(text: str, in_reasoning: bool) -> tuple[str, str]:
    """What the whole text splits into; leading whitespace of each field dropped."""
    if not in_reasoning:
        stripped = text.lstrip()
        if not stripped.startswith("<think>"):
            return "", text.lstrip()
        text = stripped[len("<think>"):]
    reasoning, found, content = text.partition("</think>")
    if not found:
        return reasoning.lstrip(), ""
    return reasoning.lstrip(), content.lstrip()


def reference_reasoning_tokens(ids: list[int], in_reasoning: bool, text: str) -> int:
    if not in_reasoning and not text.lstrip().startswith("<think>"):
        return 0
    end_id = MARKERS.end_ids[0]
    return ids.index(end_id) + 1 if end_id in ids else len(ids)


def run(deltas: list[list[int]], in_reasoning: bool) -> tuple[Split, ReasoningSplitter]:
    splitter = ReasoningSplitter(MARKERS, in_reasoning=in_reasoning)
    total = Split()
    for ids in deltas:
        part = splitter.feed(TOKENIZER.decode(ids), ids)
        total.reasoning += part.reasoning
        total.content += part.content
    tail = splitter.finish()
    return Split(total.reasoning + tail.reasoning, total.content + tail.content), splitter


def cut(ids: list[int], cuts: list[int]) -> list[list[int]]:
    points = sorted({c % (len(ids) + 1) for c in cuts} | {0, len(ids)})
    return [ids[a:b] for a, b in itertools.pairwise(points) if b > a]


PIECES = st.sampled_from(
    ["<think>", "</think>", "<", "/", "think", ">", "\n", " ", "Wait", "7 + 5 = 12", "So", "."]
)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=25), cuts=st.lists(st.integers(0, 200), max_size=12),
       in_reasoning=st.booleans())
def test_any_cut_reassembles_the_reference_split(pieces: list[str], cuts: list[int],
                                                 in_reasoning: bool) -> None:
    text = "".join(pieces)
    ids = TOKENIZER.encode(text, add_special_tokens=False)
    text = TOKENIZER.decode(ids)
    split, splitter = run(cut(ids, cuts), in_reasoning)
    assert (split.reasoning, split.content) == reference_split(text, in_reasoning)
    assert splitter.num_reasoning_tokens == reference_reasoning_tokens(ids, in_reasoning, text)


def test_marker_cut_inside_a_delta_and_across_deltas() -> None:
    splitter = ReasoningSplitter(MARKERS, in_reasoning=True)
    first = splitter.feed("I add.</th", [1, 2, 3])
    assert first == Split("I add.", "")  # "</th" is held: it may be the marker
    second = splitter.feed("ink>\n\n12", [*MARKERS.end_ids, 4])
    assert second == Split("", "12")
    assert splitter.num_reasoning_tokens == 4
    assert splitter.reasoning_ended


def test_end_marker_after_thinking_closed_is_answer_text() -> None:
    splitter = ReasoningSplitter(MARKERS, in_reasoning=True)
    ids = [1, *MARKERS.end_ids, 2, *MARKERS.end_ids, 3]
    assert splitter.feed("a</think>\n\n12</think> ok", ids) == Split("a", "12</think> ok")
    assert splitter.finish() == Split()
    assert splitter.num_reasoning_tokens == 1 + len(MARKERS.end_ids)


def test_held_text_that_is_not_a_marker_is_released() -> None:
    splitter = ReasoningSplitter(MARKERS, in_reasoning=True)
    assert splitter.feed("a </th", [1]) == Split("a ", "")
    assert splitter.feed("ree", [2]) == Split("</three", "")


def test_stream_ending_inside_thinking_is_all_reasoning() -> None:
    splitter = ReasoningSplitter(MARKERS, in_reasoning=True)
    assert splitter.feed("still thinking </thi", [1, 2, 3]) == Split("still thinking ", "")
    assert splitter.finish() == Split("</thi", "")
    assert splitter.num_reasoning_tokens == 3


def test_model_opening_thinking_itself() -> None:
    splitter = ReasoningSplitter(MARKERS, in_reasoning=False)
    assert splitter.feed("<thi", [1]) == Split()
    rest = splitter.feed("nk>\nhmm</think>\n\nok", [2, 3, *MARKERS.end_ids, 4])
    assert rest == Split("hmm", "ok")
    assert splitter.num_reasoning_tokens == 4


def test_no_markers_means_all_content_untouched() -> None:
    splitter = ReasoningSplitter(None, in_reasoning=False)
    assert splitter.feed(" <think>x</think>", [1, 2]) == Split("", " <think>x</think>")
    assert splitter.num_reasoning_tokens == 0


def test_model_that_does_not_think_gives_content() -> None:
    splitter = ReasoningSplitter(MARKERS, in_reasoning=False)
    assert splitter.feed("\nHello", [1, 2]) == Split("", "Hello")
    assert splitter.num_reasoning_tokens == 0


@pytest.mark.parametrize(("prompt", "opens"), [
    ("<|im_start|>assistant\n<think>\n", True),
    ("<|im_start|>assistant\n<think>\n\n</think>\n\n", False),
    ("<|im_start|>assistant\n", False),
])
def test_prompt_opens_thinking(prompt: str, opens: bool) -> None:
    ids = TOKENIZER.encode(prompt, add_special_tokens=False)
    assert MARKERS.prompt_opens_thinking(ids) is opens
