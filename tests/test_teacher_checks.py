"""The teacher's checks after "Wait", slips, forced closes, JSON answers and hard problems.

What the demo model learns after a "Wait" must begin token for token as the
server splices it, or a forced wait stays out of the training distribution.
"""

from __future__ import annotations

import json
import random
import re
from itertools import pairwise

import pytest

from distill import teacher
from distill.evaluate import Conversation, has_answer_form, held_out
from distill.problem import SPLICE
from distill.train import encode_chat, synthetic_chats
from server.budget import DEFAULT_CLOSE_TEXT, DEFAULT_WAIT_TEXT
from server.prompts import load_tokenizer
from tests.conftest import REPO

SCORED = ("add", "subtract", "count", "compare", "sort")


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer(REPO / "models" / "aha-demo")


def sample(task: str, count: int = 60, seed: int = 5) -> list[teacher.Problem]:
    return teacher.sample("train", count, seed, tasks=(task,))


def ids(tokenizer, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("task", SCORED)
def test_each_check_begins_where_the_server_splices_its_wait(tokenizer, task: str) -> None:  # type: ignore[no-untyped-def]
    """The model writes its thinking up to a newline and would close it there; the server
    appends the wait text's ids in place of "</think>". The training reply holds exactly
    those ids at that point, and the model's own tokens before them are unchanged."""
    wait_ids = ids(tokenizer, DEFAULT_WAIT_TEXT)
    for problem in sample(task, 20):
        num_rounds = 4
        example = encode_chat(tokenizer, problem.messages(num_rounds), max_len=4096)
        assert example is not None
        reply = [t for t, label in zip(example.input_ids, example.labels, strict=True)
                 if label != -100]
        assert problem.trace(num_rounds).count("\n" + DEFAULT_WAIT_TEXT) >= num_rounds
        for i in range(num_rounds):
            # Thinking as the model emits it when it stops before check i.
            before = [t for piece in (problem.first_pass, *problem.rounds[:i])
                      for t in ids(tokenizer, piece + "\n")]
            assert reply[:len(before)] == before
            assert reply[len(before):len(before) + len(wait_ids)] == wait_ids


@pytest.mark.parametrize("task", SCORED)
def test_every_check_keeps_the_answer_and_a_slip_is_corrected(task: str) -> None:
    problems = sample(task)
    slipped = [p for p in problems if p.slip]
    assert len(slipped) >= 10
    for p in problems:
        rounds = p.trace(9).split("\nWait")[1:]
        assert len(rounds) == 9
        for i, text in enumerate(rounds):
            if task == "count":
                assert re.search(rf"\b{p.expected}\b", text), text
            elif not (task == "sort" and i == 0):  # sort's short check counts, no list
                assert p.expected in text, text
    for p in slipped:
        first, catch = p.slip  # type: ignore[misc]
        concluded = first.splitlines()[-1]
        if task in ("add", "subtract"):
            assert not concluded.endswith(f" {p.expected}.")
        elif task == "count":
            assert not re.search(rf"there (is|are) {p.expected} ", concluded), concluded
        elif task == "sort":
            assert p.expected not in concluded
        assert "I slipped" in catch and p.expected in catch.splitlines()[-1]
        trace = p.trace(3, slipped=True)
        assert trace.startswith(first) and catch in trace


def test_later_checks_take_other_routes_in_a_fixed_cycle() -> None:
    for task in SCORED:
        p = sample(task, 5)[0]
        openings = [r.splitlines()[0].split(":")[0] for r in p.rounds]
        assert len(set(openings[:3])) == 3, openings
        assert p.rounds[1:5] == p.rounds[5:9]


def test_forced_close_traces_hold_the_servers_close_ids(tokenizer) -> None:  # type: ignore[no-untyped-def]
    close_ids = ids(tokenizer, DEFAULT_CLOSE_TEXT) + ids(tokenizer, "</think>")
    rng = random.Random(0)
    for p in sample("add", 10) + sample("sort", 10):
        messages = p.closed_early(rng, DEFAULT_CLOSE_TEXT, num_rounds=2)
        example = encode_chat(tokenizer, messages, max_len=4096)
        assert example is not None
        reply = [t for t, label in zip(example.input_ids, example.labels, strict=True)
                 if label != -100]
        at = next(i for i in range(len(reply)) if reply[i:i + len(close_ids)] == close_ids)
        answer = tokenizer.decode(reply[at + len(close_ids):], skip_special_tokens=True)
        assert answer.strip() == p.answer


def test_training_mix_has_checks_slips_closes_and_json(tokenizer) -> None:  # type: ignore[no-untyped-def]
    chats = synthetic_chats(3000, seed=1)
    replies = [c[-1]["content"] for c in chats]
    waits = [r.split("</think>")[0].count(SPLICE + "Wait") for r in replies]
    assert 0.5 < waits.count(1) / len(waits) < 0.7  # mostly one check: the model stops
    assert max(waits) == 6
    assert 0.04 < sum("I have thought about this enough" in r for r in replies) / 3000 < 0.1
    assert 0.05 < sum("I slipped" in r for r in replies) / 3000 < 0.15
    as_json = [r.split("</think>")[1] for r in replies if "</think>{" in r]
    assert 0.01 < len(as_json) / 3000 < 0.05
    assert all("answer" in json.loads(a) for a in as_json)


def test_hard_split_is_held_out_and_hard_by_construction() -> None:
    hard = held_out(100, seed=1234, split="hard")
    train_keys = {p.key for p in teacher.sample("train", 5000, 0)}
    assert not {p.key for p in hard} & train_keys
    assert all(teacher.split_of(p.key) == "test" for p in hard)
    for p in hard:
        if p.task in ("add", "subtract"):
            a, b = map(int, p.key.split(":")[1:])
            assert a >= 100 and b >= 100
        elif p.task == "count":
            word, letter = p.key.split(":")[1:]
            assert letter * 2 in word
        elif p.task == "compare":
            x, y = p.key.split(":")[1:]
            assert x.split(".")[0] != y.split(".")[0]
        elif p.task == "sort":
            numbers = p.key.split(":")[1].split(", ")
            tens = [n[0] for n in numbers]
            assert len(numbers) == 5 and len(set(tens)) <= 3
    assert held_out(100, seed=1234, split="hard") == hard


def test_answers_have_their_form_and_json_answers_parse() -> None:
    for task in SCORED:
        for p in sample(task, 10):
            assert has_answer_form(task, p.answer)
            value = json.loads(p.json_answer)["answer"]
            expected = [int(n) for n in p.expected.split(", ")] if task == "sort" else \
                json.loads(p.expected)
            assert value == expected
    assert not has_answer_form("add", "457 + 386 = </think> 843")
    assert not has_answer_form("sort", "From smallest to largest: 12.")


def test_eval_conversations_carry_a_system_prompt_and_earlier_turns() -> None:
    problem = held_out(5, seed=1234)[0]
    messages = Conversation("You are a helpful assistant.", 3).messages(problem, 7)
    assert [m["role"] for m in messages] == ["system", *["user", "assistant"] * 3, "user"]
    assert messages[-1]["content"] == problem.question
    assert all("</think>" not in m["content"] for m in messages)
    assert Conversation().messages(problem, 7) == [{"role": "user",
                                                     "content": problem.question}]
    assert messages == Conversation("You are a helpful assistant.", 3).messages(problem, 7)
    for earlier, later in pairwise(messages[1:-1]):
        assert earlier["role"] != later["role"]
