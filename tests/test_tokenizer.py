"""The demo tokenizer: which numbers are single tokens, and that loading keeps its rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase, Qwen2Config

from distill import teacher
from distill.tokenizer import build_tokenizer
from distill.words import own_words
from server.prompts import load_tokenizer
from tests.conftest import REPO

SAMPLE = "Sort 41, 93, 35. What is 457 + 386? Is 11.93 more than 0.35? So far 08."


def build(numbers: str) -> PreTrainedTokenizerBase:
    chats = [p.messages() for p in teacher.sample("train", 3000, 0)]
    return build_tokenizer((m["content"] for chat in chats for m in chat), 1152, numbers)


@pytest.fixture(scope="module")
def built() -> PreTrainedTokenizerBase:
    return build("two-digit")


@pytest.fixture(scope="module")
def lists() -> PreTrainedTokenizerBase:
    return build("lists")


@pytest.fixture(scope="module")
def items() -> PreTrainedTokenizerBase:
    return build("list-items")


def pieces(tokenizer: PreTrainedTokenizerBase, text: str) -> list[str]:
    return [tokenizer.decode([i]) for i in tokenizer.encode(text, add_special_tokens=False)]


def test_whole_two_digit_numbers_are_single_tokens(built: PreTrainedTokenizerBase) -> None:
    assert all(len(built.encode(str(n), add_special_tokens=False)) == 1 for n in range(10, 100))
    assert pieces(built, "Sort 41, 93") == ["Sort", " ", "41", ",", " ", "93"]
    assert pieces(built, "So far 08.")[-2:] == ["08", "."]
    # Longer numbers and the digits after a decimal point stay one token per digit.
    assert pieces(built, " 457 + 386") == [" ", "4", "5", "7", " +", " ", "3", "8", "6"]
    assert pieces(built, " 11.93")[1:] == ["11", ".", "9", "3"]
    assert pieces(built, " 0.35")[1:] == ["0", ".", "3", "5"]


def number_tokens(tokenizer: PreTrainedTokenizerBase, text: str) -> list[str]:
    return [p.strip() for p in pieces(tokenizer, text) if p.strip().isdigit()]


def test_list_numbers_are_single_tokens_only_in_lists(lists: PreTrainedTokenizerBase) -> None:
    assert number_tokens(lists, "Sort 41, 93, 35.") == ["41", "93", "35"]
    assert number_tokens(lists, "30s: 35.") == ["3", "0", "35"]
    # The column arithmetic, longer numbers and decimals stay one token per digit.
    assert number_tokens(lists, "Tens: 45 ends in 5 and 38 ends in 8. 5 + 8 + 1 = 14, write 4.") \
        == ["4", "5", "5", "3", "8", "8", "5", "8", "1", "1", "4", "4"]
    assert number_tokens(lists, "Which is larger, 11.8 or 13.2?") == ["1", "1", "8", "1", "3", "2"]
    assert number_tokens(lists, "So the first number, 11.8, is larger.") == ["1", "1", "8"]
    assert number_tokens(lists, "Sort 457, 386") == ["4", "5", "7", "3", "8", "6"]


def test_list_numbers_split_the_tasks_cleanly(lists: PreTrainedTokenizerBase) -> None:
    """Only the sort traces hold whole-number tokens, and they hold every list number."""
    for problem in teacher.sample("test", 300, 1):
        text = "\n".join([problem.question, problem.reasoning, problem.answer])
        whole = [p for p in pieces(lists, text) if p.isdigit() and len(p) > 1]
        if problem.task == "sort":
            # Every two-digit number but the decade labels ("30s").
            assert len(whole) == len(re.findall(r"(?<![\d.])\d\d(?![\ds])", text)), text
            assert set(whole) == set(problem.expected.split(", ")), text
        else:
            assert whole == [], text


def test_list_items_carry_their_separator(items: PreTrainedTokenizerBase) -> None:
    assert pieces(items, "Sort 41, 93, 35.") == ["Sort", " ", "41", ", 93", ", 35", "."]
    assert pieces(items, "50s: 59, 54. By")[-6:] == [":", " ", "59", ", 54", ".", " By"]
    assert all(len(items.encode(f"15, {n}", add_special_tokens=False)) == 2 for n in range(10, 100))


def test_list_items_leave_all_other_text_as_bytelevel_splits_it(
        lists: PreTrainedTokenizerBase, items: PreTrainedTokenizerBase) -> None:
    def split(tokenizer: PreTrainedTokenizerBase, text: str) -> list[str]:
        return [p for p, _ in tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]

    for problem in teacher.sample("test", 200, 2):
        if problem.task != "sort":
            text = "\n\n".join([problem.question, problem.reasoning, problem.answer])
            assert split(items, text) == split(lists, text), text
    odd = "Hello!  It's 3 o'clock,\tisn't it?\n\n  Yes, 12, or 13,5."
    assert split(items, odd) == split(lists, odd)


@pytest.fixture(scope="module")
def spelling() -> PreTrainedTokenizerBase:
    chats = [p.messages() for p in teacher.sample("train", 3000, 0)]
    corpus = [m["content"] for chat in chats for m in chat]
    return build_tokenizer(corpus, 1152, "list-items", own_words(chats))


def test_spelled_words_are_a_letter_per_token(spelling: PreTrainedTokenizerBase) -> None:
    assert pieces(spelling, "How many r's are in cherry?") == [
        "How", " many", " r", "'s", " are", " in", " c", "h", "e", "r", "r", "y", "?"]
    # A held-out word is spelled though training never asks it; the traces' own words
    # stay whole, also beside a spelled word or inside none.
    assert pieces(spelling, 'I will go through volleyball.')[:5] == [
        "I", " will", " go", " through", " v"]
    assert "Wait" in pieces(spelling, "Wait, let me double-check")
    assert pieces(spelling, "ballwait") == list("ballwait")
    assert pieces(spelling, "Sort 41, 93, 35.") == ["Sort", " ", "41", ", 93", ", 35", "."]


def test_spelled_words_leave_every_trace_as_long_but_for_the_counted_word(
        items: PreTrainedTokenizerBase, spelling: PreTrainedTokenizerBase) -> None:
    for problem in teacher.sample("test", 200, 2):
        if problem.task not in ("count", "chat"):
            text = "\n\n".join([problem.question, problem.reasoning, problem.answer])
            assert pieces(spelling, text) == pieces(items, text), text


@pytest.mark.parametrize("numbers", ["built", "items", "spelling"])
def test_a_saved_tokenizer_loads_with_the_rules_it_was_trained_with(
        numbers: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    trained: PreTrainedTokenizerBase = request.getfixturevalue(numbers)
    # A qwen2 config beside it is what made transformers' AutoTokenizer substitute
    # Qwen2's own pre-tokenizer (digits one by one).
    trained.save_pretrained(str(tmp_path))
    Qwen2Config(vocab_size=len(trained)).save_pretrained(str(tmp_path))
    loaded = load_tokenizer(tmp_path)
    assert loaded.encode(SAMPLE, add_special_tokens=False) == trained.encode(
        SAMPLE, add_special_tokens=False)
    assert loaded.chat_template == trained.chat_template


def test_the_demo_model_is_served_with_its_own_tokenizer_rules() -> None:
    demo = REPO / "models" / "aha-demo"
    own = Tokenizer.from_file(str(demo / "tokenizer.json"))
    text = 'Count the "r" in strawberry.\n\nSort 41, 93, 35; what is 457 + 386?'
    assert load_tokenizer(demo).encode(text, add_special_tokens=False) == own.encode(
        text, add_special_tokens=False).ids
