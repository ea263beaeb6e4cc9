"""A synthetic teacher that writes R1-style reasoning traces for small tasks.

Every task returns a `Problem`: the user's question, the teacher's thinking
(worked step by step, with R1's "Wait, let me double-check" self-check) and
the plain answer. Generation is deterministic for a seed, and train and test
splits are disjoint because each problem's canonical key is hashed into one
split only. The scored tasks live in `distill.tasks`; chat is here.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Mapping

from distill import tasks
from distill.sorting import three_in_a_decade
from distill.tasks import COLUMNS, Problem
from distill.words import TRAIN_ONLY_WORDS, random_word

__all__ = ["COLUMNS", "SPLITS", "TASKS", "Problem", "problems", "sample", "split_of"]

TASKS = ("add", "subtract", "count", "compare", "sort", "chat")
# Held-out problem sets: "standard" draws like training; "hard" keeps to the training
# range but where the model errs most (see HARD_SPLIT);
# "short" is additions and subtractions with a one-digit operand ("2 + 2", "99 - 4"),
# the first thing a user types, kept apart so the standard figures stay comparable
# (training draws them in a fifth of its sums, see SHORT_FRACTION).
SPLITS = ("standard", "hard", "short")
SHORT_TASKS = ("add", "subtract")
TEST_SHARE = 0.1


def split_of(key: str) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return "test" if digest[0] < 256 * TEST_SHARE else "train"


CHAT = (
    ("Hello", "The user is greeting me. I should greet them back and say what I can do."),
    ("Hi!", "The user says hi. I should greet them and say what I can do."),
    ("Who are you?", "The user asks who I am. I am a small demo model; I should say so briefly."),
    ("What can you do?", "The user asks what I can do. I should list my tasks."),
    ("What is the capital of France?", "This is not one of my tasks. I should say so plainly."),
    ("Tell me a joke.", "This is not one of my tasks. I should say so plainly."),
    ("What's the weather like today?", "I cannot know the weather. I should say so plainly."),
    ("Write a poem about the sea.", "This is not one of my tasks. I should say so plainly."),
    ("thanks", "The user thanks me. I should reply briefly."),
)
CAPABILITIES = (
    "I can add and subtract numbers, count letters in a word, compare decimals "
    "and sort short lists of numbers."
)


def _chat(rng: random.Random) -> Problem:
    question, thought = rng.choice(CHAT)
    if question.lower().startswith(("hello", "hi")):
        answer = f"Hello! I am the Aha demo model. {CAPABILITIES}"
    elif question == "thanks":
        answer = "You are welcome!"
    elif "who" in question.lower() or "can you" in question.lower():
        answer = f"I am the Aha demo model, a small reasoning model. {CAPABILITIES}"
    else:
        answer = f"Sorry, I am a small demo model and cannot help with that. {CAPABILITIES}"
    return Problem("chat", f"chat:{question}", question, thought, answer, "")


def _variant(task: str, **kwargs: bool) -> Callable[[random.Random], Problem]:
    generate = GENERATORS[task]
    return lambda rng: generate(rng, **kwargs)


GENERATORS: dict[str, Callable[[random.Random], Problem]] = {
    "add": tasks.add,
    "subtract": tasks.subtract,
    "count": tasks.count,
    "compare": tasks.compare,
    "sort": tasks.sort,
    "chat": _chat,
}


# Made-up words in training counts: a third was enough to fix the comparison that
# real words let the model skip (thirteenth run, model card History).
RANDOM_WORD_SHARE = 0.3


def _train_count(rng: random.Random) -> Problem:
    """Most training count problems use words the test problems never use.

    Test problems are letters of tasks.WORDS that training never asks for; the
    other words, and made-up ones with no spelling to remember, teach the letter
    comparison rather than each word's usual letters. The test split keeps
    tasks.count itself, so its problems are the same as before.
    """
    draw = rng.random()
    if draw < RANDOM_WORD_SHARE:
        return tasks.count(rng, [random_word(rng)])
    return tasks.count(rng, tasks.WORDS if draw < 0.7 else TRAIN_ONLY_WORDS)


# A fifth of training additions and subtractions have a one-digit operand, drawn only
# here so that the held-out problems stay the same: without them the demo model reads
# "What is 2 + 2?" as a comparison (the "short" split, see SPLITS).
SHORT_FRACTION = 0.2


def _train_add(rng: random.Random) -> Problem:
    return tasks.add(rng, short=rng.random() < SHORT_FRACTION)


def _train_subtract(rng: random.Random) -> Problem:
    return tasks.subtract(rng, short=rng.random() < SHORT_FRACTION)


# A share of training lists and pairs drawn as the hard split draws them (other keys:
# held-out ones never train). Ordering a shared decade by its ones digit and telling
# two close whole parts apart ("4 and 5, the same") were the unforced model's
# commonest sort and compare errors, and standard draws ask for them rarely: a list
# with a shared decade in 3 of 10, two shared decades almost never.
HARD_SHARE = 0.3


def _train_sort(rng: random.Random) -> Problem:
    return tasks.sort(rng, hard=rng.random() < HARD_SHARE)


def _train_compare(rng: random.Random) -> Problem:
    return tasks.compare(rng, hard=rng.random() < HARD_SHARE)


# The hard held-out split: problems in the training range where the model errs most.
# Sums with two or more carries or borrows and doubled letters are as they were; lists
# with three numbers in a decade and pairs whose two-digit whole parts are one apart
# replaced five numbers in two shared decades and any inverted pair on 6 Dec 2026, when
# the shipped model scored 93.6% on those, above the 50-85% where waits have room to pay.
HARD_SPLIT: dict[str, Callable[[random.Random], Problem]] = {
    "add": _variant("add", hard=True),
    "subtract": _variant("subtract", hard=True),
    "count": _variant("count", hard=True),
    "compare": lambda rng: tasks.compare(rng, pair=tasks.adjacent_pair(rng)),
    "sort": lambda rng: tasks.sort(rng, numbers=three_in_a_decade(rng)),
}

TRAIN_GENERATORS = {**GENERATORS, "count": _train_count,
                    "add": _train_add, "subtract": _train_subtract,
                    "sort": _train_sort, "compare": _train_compare}
# Compare at 4, not 3: half its multi-check traces carry a first pass and first check
# that are read, not learnt (train.LATE_SLIP_SHARE_WITH_CHECKS), and at 3 the learnt
# first checks were too few (thirty-ninth run: standard compare 96.5 -> 87.5, the first
# check naming the wrong number from right digits). A third more compare traces
# restores their count. Sort at 5, not 4: every run carrying the cut-at-any-token
# forced closes came in with sort under 90 (fortieth, forty-second, forty-third runs:
# 89, 86.5, 88; the shipped model 91.5), and compare's extra traces left sort 4 of 17
# where the shipped model had 4 of 16.
WEIGHTS = {"add": 2, "subtract": 2, "count": 2, "compare": 4, "sort": 5, "chat": 1}
# The weights under which the held-out sets were first drawn. Drawing a single task
# still spends randomness on choosing among its copies, so the evaluator draws with
# these, frozen: reweighting training must not move the problems every figure was
# measured on.
HELD_OUT_WEIGHTS = {"add": 2, "subtract": 2, "count": 2, "compare": 3, "sort": 4, "chat": 1}


def problems(split: str, seed: int, tasks: tuple[str, ...] = TASKS,
             hard: bool = False, short: bool = False,
             weights: Mapping[str, int] | None = None) -> Iterator[Problem]:
    """Endless stream of problems of one split; chat prompts belong to both splits.

    `hard` and `short` draw the test split's hard or short problems (see SPLITS); chat
    has neither, and only addition and subtraction have short ones.
    """
    rng = random.Random(seed)
    if short:
        tasks = tuple(t for t in tasks if t in SHORT_TASKS)
    weights = weights or WEIGHTS
    names = [t for t in tasks for _ in range(weights[t]) if not (hard and t == "chat")]
    generators = TRAIN_GENERATORS if split == "train" else GENERATORS
    if hard:
        generators = HARD_SPLIT
    elif short:
        generators = {t: _variant(t, short=True) for t in SHORT_TASKS}
    while True:
        problem = generators[rng.choice(names)](rng)
        if problem.task == "chat" or split_of(problem.key) == split:
            yield problem


def sample(split: str, count: int, seed: int, tasks: tuple[str, ...] = TASKS,
           hard: bool = False, short: bool = False,
           weights: Mapping[str, int] | None = None) -> list[Problem]:
    stream = problems(split, seed, tasks, hard, short, weights)
    return [next(stream) for _ in range(count)]
