"""The demo tokenizer: which numbers are single tokens, and that loading keeps its rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase, Qwen2Config

from distill import teacher
from distill.tokenizer import build_tokenizer
from server.prompts import load_tokenizer
from tests.conftest import REPO

SAMPLE = "Sort 41, 93, 35. What is 457 + 386? Is 11.93 more than 0.35? So far 08."


@pytest.fixture(scope="module")
def built() -> PreTrainedTokenizerBase:
    chats = [p.messages() for p in teacher.sample("train", 3000, 0)]
    return build_tokenizer((m["content"] for chat in chats for m in chat), 1152,
                           two_digit_numbers=True)


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


def test_a_saved_tokenizer_loads_with_the_rules_it_was_trained_with(
        built: PreTrainedTokenizerBase, tmp_path: Path) -> None:
    # A qwen2 config beside it is what made transformers' AutoTokenizer substitute
    # Qwen2's own pre-tokenizer (digits one by one).
    built.save_pretrained(str(tmp_path))
    Qwen2Config(vocab_size=len(built)).save_pretrained(str(tmp_path))
    loaded = load_tokenizer(tmp_path)
    assert loaded.encode(SAMPLE, add_special_tokens=False) == built.encode(
        SAMPLE, add_special_tokens=False)
    assert loaded.chat_template == built.chat_template


def test_the_demo_model_is_served_with_its_own_tokenizer_rules() -> None:
    demo = REPO / "models" / "aha-demo"
    own = Tokenizer.from_file(str(demo / "tokenizer.json"))
    text = 'Count the "r" in strawberry.\n\nSort 41, 93, 35; what is 457 + 386?'
    assert load_tokenizer(demo).encode(text, add_special_tokens=False) == own.encode(
        text, add_special_tokens=False).ids
