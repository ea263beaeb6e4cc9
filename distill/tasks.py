"""The teacher's five scored tasks, each written as an R1-style reasoning trace.

The traces are shaped for what a 2M-parameter model can learn in well under an
hour: every token it must produce is either copied from a short, unambiguous
context close by, or a small function (a digit sum, a comparison) of such
tokens. Words are walked by position, decimals compared part by part, lists
sorted decade by decade. After the first pass come checks, each opened by
"Wait" exactly where the server splices its wait text: the first is short, the
later ones take another route to the answer (the word walked afresh, the
whole parts read again, the list checked pair by pair) and end by restating it.
Addition and subtraction live in `distill.arithmetic`, sorting in `distill.sorting`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from itertools import pairwise

from distill.arithmetic import COLUMNS, NUM_ROUNDS, add, repeat_a_digit, subtract
from distill.problem import Problem, joined, routes_then_restated
from distill.sorting import sort

__all__ = ["COLUMNS", "WORDS", "Problem", "add", "compare", "count", "sort", "subtract"]

WORDS = (
    "strawberry banana apple cherry mississippi letter bookkeeper committee "
    "balloon coffee raspberry pepper tomato potato giraffe address "
    "success parallel necessary occurrence programming assessment vacuum broccoli "
    "accommodate embarrass millennium possession questionnaire referee tennessee volleyball "
    "grasshopper kangaroo peppermint blueberry hippopotamus llama pineapple watermelon "
    "cucumber avocado "
).split()


def _doubled_letter(rng: random.Random, words: Sequence[str]) -> tuple[str, str]:
    """A word with a doubled letter, and that letter: the count task's hardest case."""
    word = rng.choice([w for w in words if any(a == b for a, b in pairwise(w))])
    return word, rng.choice(sorted({a for a, b in pairwise(word) if a == b}))


def count(rng: random.Random, words: Sequence[str] = WORDS, hard: bool = False) -> Problem:
    if hard:
        word, letter = _doubled_letter(rng, words)
    else:
        word = rng.choice(words)
        letter = rng.choice([*sorted(set(word)), rng.choice("aeiourst")])
    phrasing = rng.choice([
        "How many {l}'s are in {w}?", "How many times does the letter {l} appear in {w}?",
        "Count the letter {l} in the word {w}.", "how many {l} in {w}",
        "How many {l}'s are there in the word \"{w}\"?",
    ])
    found = word.count(letter)
    named = f"{letter}'s" if found != 1 else letter
    verb = "is" if found == 1 else "are"
    says = f"there {verb} {found} {named} in {word}"
    # The second walk is the first one read afresh: the same lines when it is right.
    walk = _walk(word, letter, range(len(word)))
    # No third route listing the positions ("positions 2, 5, 8 and 9"): the model
    # gathered them from the walks' yes lines, miscopied them ("2, 3, 5 and 9. That is
    # 4") and then answered 3; two forced waits broke tennessee's e in 11 standard
    # and 14 hard problems (forty-ninth run, model card History). After the second
    # walk the restated line copies the count from the line above it.
    rounds = [
        f"Wait, let me double-check: I said yes {found} time{'s' if found != 1 else ''}. "
        f"The count is {found}.",
        joined(AGAIN, *walk, f"That makes {found} again, so {says}."),
    ]
    # Walking by numbered position keeps repeated letters ("s-s-e-e") from losing the
    # model's place; the letter sought is restated on each line so the yes/no is
    # decided locally (stated once at the top, the model answered "no" to everything).
    intro = f"I will go through {word} letter by letter, looking for {letter}."
    flip = random.Random(f"slip:{word}:{letter}").randrange(len(word))
    slipped = _walk(word, letter, range(len(word)), flip)
    wrong = sum(": yes" in line for line in slipped)
    slip = (joined(intro, *slipped, _counted(word, letter, wrong)),
            joined(AGAIN, *walk, _tie_break(word, letter, found, wrong)))
    # The second walk can slip too (doubled letters: "4. e vs l" where 4 is l); the
    # traces show two walks that disagree settled by a third, never by the later.
    misread_at = random.Random(f"misread:{word}:{letter}").randrange(len(word))
    misread = _walk(word, letter, range(len(word)), misread_at)
    disputed = (AGAIN, joined(*misread),
                _tie_break(word, letter, sum(": yes" in line for line in misread), found))
    return Problem("count", f"count:{word}:{letter}", phrasing.format(l=letter, w=word),
                   joined(intro, *walk, _counted(word, letter, found)),
                   f"There {verb} {found} {named} in \"{word}\".", str(found),
                   routes_then_restated(rounds, NUM_ROUNDS, f"So {says}."), slip,
                   f"Wait, let me double-check: I said yes {wrong} "
                   f"time{'s' if wrong != 1 else ''}. The count is {wrong}.", disputed)


# The second walk goes from the start again, read afresh from the question's word. It
# used to go from the end, but a model this small spells a word backwards from memory,
# and after a forced "Wait" it misspelt it ("4. e vs r" in cherry) and believed the
# misspelling: one wait cost 9 points of counts (thirteenth run, model card History).
AGAIN = "Wait, let me walk it again from the start."


def _tie_break(word: str, letter: str, again: int, before: int) -> str:
    """Two walks that disagree, settled by a third from the start, whose count is the
    answer. The traces' later check used to win every disagreement (it caught a planted
    slip), so after a forced "Wait" the model believed a garbled second walk over a
    right one: one wait cost a model 21.5 points of hard counts (model card, History).
    """
    return joined(f"That makes {again} this time, but {before} before, so I slipped "
                  "in one of the walks. Let me walk it once more from the start.",
                  *_walk(word, letter, range(len(word))),
                  _counted(word, letter, word.count(letter)))


def _walk(word: str, letter: str, order: Iterable[int],
          flip: int = -1) -> list[str]:
    lines, found = [], 0
    for i in order:
        if (word[i] == letter) != (i == flip):
            found += 1
            lines.append(f"{i + 1}. {word[i]} vs {letter}: yes, that makes {found}.")
        else:
            lines.append(f"{i + 1}. {word[i]} vs {letter}: no.")
    return lines


def _counted(word: str, letter: str, found: int) -> str:
    named = f"{letter}'s" if found != 1 else letter
    verb = "is" if found == 1 else "are"
    return f"That is all {len(word)} letters, so there {verb} {found} {named} in {word}."


def _decimal(rng: random.Random) -> str:
    whole = repeat_a_digit(rng, str(rng.randint(0, 20)))
    places = rng.randint(1, 2)
    fraction = f"{rng.randint(1, 10**places - 1):0{places}d}"
    if (repeated := repeat_a_digit(rng, fraction)) != "00":
        fraction = repeated
    return f"{whole}.{fraction}".rstrip("0")


def _hard_pair(rng: random.Random) -> tuple[str, str]:
    """Different whole parts where the smaller number has the larger tenths digit."""
    while True:
        x, y = _decimal(rng), _decimal(rng)
        (wx, fx), (wy, fy) = x.split("."), y.split(".")
        if wx != wy and (int(wx) > int(wy)) == (fx[0] < fy[0]):
            return x, y


def adjacent_pair(rng: random.Random) -> tuple[str, str]:
    """Two-digit whole parts one apart, the smaller number with the larger tenths digit
    ("13.9 or 14.2"): the hard split's pairs. They are 2% of training pairs; the shipped
    model chose right in 58.5% of them, against 97% of standard pairs."""
    while True:
        x, y = _hard_pair(rng)
        wx, wy = int(x.split(".")[0]), int(y.split(".")[0])
        if min(wx, wy) >= 10 and abs(wx - wy) == 1:
            return x, y


def compare(rng: random.Random, hard: bool = False,
            pair: tuple[str, str] | None = None) -> Problem:
    """`hard` draws training's hard-style pairs; `pair` gives the two numbers."""
    if pair is not None:
        x, y = pair
    elif hard:
        x, y = _hard_pair(rng)
    else:
        x = _decimal(rng)
        y = _decimal(rng)
        while y == x:
            y = _decimal(rng)
        if rng.random() < 0.5:  # the classic trap: same whole part
            y = f"{x.split('.')[0]}.{y.split('.')[1]}"
            while y == x:
                y = f"{x.split('.')[0]}.{rng.randint(1, 99):02d}".rstrip("0")
    phrasing = rng.choice([
        "Which is larger, {x} or {y}?", "Which is bigger: {x} or {y}?",
        "Is {x} greater than {y}?", "compare {x} and {y}",
        "Which number is greater, {x} or {y}?",
    ])
    first_wins = float(x) > float(y)
    big, small = (x, y) if first_wins else (y, x)
    which = "first" if first_wins else "second"
    concluded = f"So the {which} number, {big}, is larger."
    compared, deciding, losing = _compare_lines(x, y)
    reread = _reread_whole_parts(x, y, deciding, concluded)
    # The check comes before the conclusion, so the answer copies the winner from
    # the line just above it; checking after it ("10.8 is more than 0.1") made
    # the model mix the two numbers' digits, and the answer copied the mix.
    rounds = [
        joined(f"Wait, let me double-check: {deciding}, so the {which} number is larger.",
               concluded),
        reread,
        joined(f"Wait, could the other number, {small}, be larger? No: {losing}.", concluded),
    ]
    return Problem("compare", f"cmp:{x}:{y}", phrasing.format(x=x, y=y),
                   joined(f"I need to compare {x} and {y}.", *compared),
                   f"{big} is larger than {small}.", big,
                   routes_then_restated(rounds, NUM_ROUNDS, concluded),
                   *_compare_slip(x, y, reread))


def _reread_whole_parts(x: str, y: str, deciding: str, concluded: str) -> str:
    """The whole parts read again a digit at a time from the tens, in the very line form
    the decimals are read in ("Tens: 1 and 1, the same." / "Ones: 9 and 8. 9 is
    larger."). Where they differ it ends on its own deciding line ("So the whole parts
    decide: 13 is larger, so the first number, 13.22, is larger."), and the answer
    copies the winner from there; where they are the same the decimals decide as in the
    first pass, which rarely errs, so its conclusion (`concluded`) stands.

    The first pass judges "19 and 18" the same or not at a glance, and at a glance the
    shipped model called two-digit whole parts one apart the same in 83 of 200 hard
    pairs; its forced check read them at a glance again and repeated the error. A
    reread in the sums' form ("Ones: 19 ends in 9 and 18 ends in 8, not the same.")
    mended few (thirty-eighth to forty-third runs: most misses read both digits right
    and called them "the same"), while the decimals' form, which every first pass
    trains, took hard compare from 58.5 to 89 when the first pass used it (thirty-sixth
    run). The last line names the winner from the opening line that pairs each number
    with its whole part, so the conclusion is derived, not copied from the first pass.

    Ending it with the first pass's conclusion word for word ("So the first number,
    13.22, is larger.", forty-fourth run) taught the model to copy that line, mix and
    all: in 10 of 28 hard misses at one wait the reread named the right number and the
    line after it repeated the first pass's "13.32". A two-number line in the answer's
    form ("So 13.22 is larger than 12.32.", forty-fifth run) mixed the two numbers'
    digits itself and broke 46 hard answers at one wait. A deciding line naming one
    number alone ("so 9.77 is larger.", forty-ninth and fiftieth runs) mixed it in 6 of
    the 11 standard answers one wait broke ("so 17.1 is larger" for 17.7), and the
    answer mixed it in 4 more; the line names the winner's place too, as every first
    pass's conclusion does, the form the answer copies cleanly after two or more
    waits."""
    (wx, _), (wy, _) = x.split("."), y.split(".")
    lines = [f"Wait, let me read the whole parts again digit by digit: {x} has {wx}, "
             f"{y} has {wy}."]
    big, whole, which = (x, wx, "first") if int(wx) > int(wy) else (y, wy, "second")
    decide = (f"So the whole parts decide: {whole} is larger, so the {which} number, "
              f"{big}, is larger.")
    if len(wx) != len(wy):
        short, long = sorted((wx, wy), key=len)
        return joined(*lines, f"Digits: {long} has two and {short} has one. "
                              f"{long} is larger.", decide)
    places = ("Tens", "Ones")[2 - len(wx):]
    for place, dx, dy in zip(places, wx, wy, strict=True):
        lines.append(_digit_line(place, dx, dy))
        if dx != dy:
            return joined(*lines, decide)
    return joined(*lines, f"So {wx} and {wy} are the same, so the decimals decide: "
                          f"{deciding}.", concluded)


def _compare_slip(x: str, y: str, reread: str
                  ) -> tuple[tuple[str, str] | None, str | None]:
    """Different whole parts read as the same (the model's commonest error), the first
    check that lets it through, and the reread that catches it. Without the middle
    piece no trace showed a forced "Wait" catching a compare slip: the slip was caught
    by the model's own first check or not at all."""
    (wx, fx), (wy, fy) = x.split("."), y.split(".")
    if wx == wy or fx == fy:
        return None, None
    seen_x, seen_y = f"{wx}.{fx}", f"{wx}.{fy}"
    compared, deciding, _ = _compare_lines(seen_x, seen_y)
    which = "first" if float(seen_x) > float(seen_y) else "second"
    compared[0] = f"Whole parts: {wx} and {wy}, the same, so I look at the decimals."
    return ((joined(f"I need to compare {x} and {y}.", *compared),
             f"{reread} I slipped before."),
            joined(f"Wait, let me double-check: {deciding}, so the {which} number is larger.",
                   f"So the {which} number, {(x, y)[which == 'second']}, is larger."))


def _compare_lines(x: str, y: str) -> tuple[list[str], str, str]:
    """Whole parts, then tenths, then hundredths, each stated before it is compared; the
    deciding comparison in words, for the check ("the tenths digit 9 is more than 1"),
    and from the losing side ("its tenths digit 1 is less than 9")."""
    (wx, fx), (wy, fy) = x.split("."), y.split(".")
    if wx != wy:
        big, small = sorted((wx, wy), key=int, reverse=True)
        return ([f"Whole parts: {wx} and {wy}. {big} is larger."],
                f"the whole part {big} is more than {small}",
                f"its whole part {small} is less than {big}")
    lines = [f"Whole parts: {wx} and {wy}, the same, so I look at the decimals."]
    fx, fy = fx.ljust(2, "0"), fy.ljust(2, "0")
    for place, dx, dy in (("Tenths", fx[0], fy[0]), ("Hundredths", fx[1], fy[1])):
        lines.append(_digit_line(place, dx, dy))
        if dx != dy:
            hi, lo = max(dx, dy), min(dx, dy)
            return (lines, f"the {place.lower()} digit {hi} is more than {lo}",
                    f"its {place.lower()} digit {lo} is less than {hi}")
    raise ValueError(f"{x} and {y} are equal")


def _digit_line(place: str, dx: str, dy: str) -> str:
    """One place read in both numbers ("Tens: 1 and 1, the same." / "Ones: 9 and 8. 9
    is larger."): the decimals' line form, which the whole parts' reread shares."""
    if dx == dy:
        return f"{place}: {dx} and {dy}, the same."
    return f"{place}: {dx} and {dy}. {max(dx, dy)} is larger."
