"""Sorting short lists of two-digit numbers, decade by decade, and the checks after it.

Each decade line looks up the numbers whose tens digit it names, so every token
is copied from the list close by or is a comparison of two ones digits.
"""

from __future__ import annotations

import random

from distill.arithmetic import NUM_ROUNDS
from distill.problem import Problem, joined, routes_then_restated

SHARED_DECADE_RATE = 0.3


def sort(rng: random.Random, hard: bool = False, numbers: list[int] | None = None) -> Problem:
    """`hard` draws training's hard-style lists; `numbers` gives the list itself."""
    if numbers is None:
        numbers = _hard_list(rng) if hard else _two_digit_numbers(rng, rng.randint(3, 5))
    shown = _listed(numbers)
    phrasing = rng.choice([
        "Sort these numbers: {s}", "Sort {s} from smallest to largest.",
        "Put these in ascending order: {s}", "sort {s}",
        "Can you order {s} from low to high?",
    ])
    # By decades, 10s to 90s: each line looks up the numbers whose tens digit
    # it names, a plain match against the list, and orders a shared decade by
    # the ones digit alone.
    lines = [f"I will sort {shown} by going through the tens: 10s, 20s, and so on."]
    for tens in range(1, 10):
        decade = [n for n in numbers if n // 10 == tens]
        if not decade:
            lines.append(f"{tens}0s: none.")
        elif decade == sorted(decade):
            lines.append(f"{tens}0s: {_listed(decade)}.")
        else:
            lines.append(f"{tens}0s: {_listed(decade)}. By the ones digit: "
                         f"{_listed(sorted(decade))}.")
    ordered = sorted(numbers)
    result = _listed(ordered)
    concluded = f"So in order: {result}."
    n = len(numbers)
    # Every check ends by restating the list, so the answer always copies it from the
    # line just above "</think>". The first check used not to: after a forced "Wait" the
    # answer copied from a context holding more lists, and miscopied a right conclusion
    # in 14 of the 16 hard lists one wait broke (fourteenth run, model card).
    counted = (f"Wait, let me double-check: I was given {n} numbers and I have {n}, each at "
               "most the next. Yes.")
    rounds = [
        joined(counted, concluded),
        joined(f"Wait, let me check pair by pair: {_pairs(ordered)}", concluded),
        # It counts the list just concluded, a few lines up, not the question's: copying
        # the question's list from far back failed in 73 of the 79 hard lists that two
        # forced waits broke, and the miscopy leaked into the answer (nineteenth run).
        joined(f"Wait, let me count them again: I have {result}, that is {n} numbers, "
               f"and I was given {n}.", concluded),
    ]
    i = random.Random(f"slip:{shown}").randrange(n - 1)
    slipped = [*ordered[:i], ordered[i + 1], ordered[i], *ordered[i + 2:]]
    misordered = f"So in order: {_listed(slipped)}."
    slip = (joined(*lines, misordered),
            joined(f"Wait, let me check pair by pair: {_pairs(slipped)} I slipped before.",
                   concluded))
    return Problem("sort", f"sort:{shown}", phrasing.format(s=shown),
                   joined(*lines, concluded), f"From smallest to largest: {result}.", result,
                   routes_then_restated(rounds, NUM_ROUNDS, concluded), slip,
                   joined(counted, misordered))


def _pairs(numbers: list[int]) -> str:
    """One pass of neighbour checks; a number found too large moves on past the next."""
    said, held = [], numbers[0]
    for n in numbers[1:]:
        if held < n:
            said.append(f"{held} before {n}, yes.")
            held = n
        else:
            said.append(f"{held} before {n}, no: {n} is smaller, so they swap.")
    return " ".join(said)


def _two_digit_numbers(rng: random.Random, how_many: int) -> list[int]:
    """Distinct 10..99, with a shared tens digit more often than by chance."""
    numbers = rng.sample(range(10, 100), how_many)
    if rng.random() < SHARED_DECADE_RATE:
        tens = numbers[0] // 10
        others = [n for n in range(tens * 10, tens * 10 + 10) if n not in numbers]
        numbers[1] = rng.choice(others)
    return numbers


def _hard_list(rng: random.Random) -> list[int]:
    """Five numbers, two decades shared: the longest lists, the most ordering by ones."""
    while True:
        numbers = rng.sample(range(10, 100), 5)
        tens = [n // 10 for n in numbers]
        if sum(tens.count(t) > 1 for t in set(tens)) >= 2:
            return numbers


def three_in_a_decade(rng: random.Random) -> list[int]:
    """Five numbers, three of them in one decade: the hard split's lists. Decade lines in
    training hold one or two numbers nearly always (three in 5% of training lists), and
    the model drops one of three (the shipped model sorted 37.5% of such lists right)."""
    while True:
        numbers = rng.sample(range(10, 100), 5)
        tens = [n // 10 for n in numbers]
        if max(tens.count(t) for t in tens) == 3:
            return numbers


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))
