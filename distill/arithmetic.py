"""Addition and subtraction, worked column by column, and the checks that may follow.

Each line restates what is left of both numbers and builds the result in place
("Tens: 45 ends in 5 and 38 ends in 8. 5 + 8 + 1 = 14, write 4, carry 1. So far
43."): every token the model writes is copied from close by or is a digit sum.
The checks after "Wait" redo the sum by another route (the operands swapped, or
subtraction undone by adding back), so a check is new working, not a restatement.
"""

from __future__ import annotations

import random

from distill.problem import Problem, joined, routes_then_restated

# Naming the column on each line tells the model where it is in the number.
COLUMNS = ("Ones", "Tens", "Hundreds", "Thousands")
SLIP_RATE = 0.1
REPEAT_RATE = 0.3
NUM_ROUNDS = 9  # one more than the most waits the evaluation forces


def operand(rest: str) -> str:
    """What is left of an operand at this column: "45 ends in 5", or nothing left."""
    return f"{rest} ends in {rest[-1]}" if rest else "nothing left, so 0"


def column_lines(a: int, b: int, sign: str, slip_at: int = -1) -> tuple[list[str], int]:
    """Column-by-column lines for a + b or a - b (a >= b); the result they reach.

    `slip_at` plants a slip a check can catch: the carry into, or the borrow from,
    that column is forgotten.
    """
    rest_a, rest_b = str(a), str(b)
    lines: list[str] = []
    written, carry = "", 0
    for i in range(len(rest_a) if sign == "-" else max(len(rest_a), len(rest_b))):
        x, y = int(rest_a[-1]) if rest_a else 0, int(rest_b[-1]) if rest_b else 0
        # "and", not a comma: after a comma `--numbers lists` makes "38" one token.
        head = f"{COLUMNS[i]}: {operand(rest_a)} and {operand(rest_b)}."
        last = len(rest_a) <= 1 and len(rest_b) <= 1
        carried = 0 if i == slip_at else carry
        if sign == "+":
            step, digit, carry = _add_step(x, y, carried, last)
        else:
            step, digit, carry = _subtract_step(x, y, carried)
        written = digit + written
        lines.append(f"{head} {step} So far {written}.")
        rest_a, rest_b = rest_a[:-1], rest_b[:-1]
    return lines, int(written)


def _add_step(x: int, y: int, carry: int, last: bool) -> tuple[str, str, int]:
    total = x + y + carry
    extra = f" + {carry}" if carry else ""
    if total >= 10 and not last:
        return f"{x} + {y}{extra} = {total}, write {total - 10}, carry 1.", str(total - 10), 1
    return f"{x} + {y}{extra} = {total}, write {total}.", str(total), 0


def _subtract_step(x: int, y: int, borrow: int) -> tuple[str, str, int]:
    # The borrow gets its own step: folding it into the digit was a frequent slip.
    top = x - borrow
    before = f"{x} minus the borrowed 1 is {top}, and " if borrow else ""
    if top < y:
        return (f"{before}{top} is less than {y}, so borrow: {top + 10} - {y} = "
                f"{top + 10 - y}.", str(top + 10 - y), 1)
    return f"{before}{top} - {y} = {top - y}.", str(top - y), 0


def repeat_a_digit(rng: random.Random, digits: str) -> str:
    """Sometimes copies a digit onto its neighbour: 317 -> 337.

    Numbers like 322 and 11 were the model's worst copies (it wrote 32 and 1:
    which "2" comes next is ambiguous to a small model), so they are seen more
    often than chance would show them.
    """
    if len(digits) < 2 or rng.random() >= REPEAT_RATE:
        return digits
    i = rng.randrange(len(digits) - 1)
    return digits[: i + 1] + digits[i] + digits[i + 2:]


def _operand_value(rng: random.Random) -> int:
    return int(repeat_a_digit(rng, str(rng.randint(10, 999))))


def _short_operands(rng: random.Random) -> tuple[int, int]:
    """One operand of one digit, the other of one to three: "2 + 2", "99 - 4", "457 + 5".

    The standard and hard held-out operands are 10-999; trained on those alone, the
    demo model reads "What is 2 + 2?" as a comparison of decimals ("22.1 is larger than
    12.2") and "99 - 4" as "99 - 44". Training draws these in a fifth of its sums
    (`teacher.TRAIN_GENERATORS`); the "short" held-out split asks them.
    """
    other = rng.choice((rng.randint(1, 9), rng.randint(10, 99), _operand_value(rng)))
    a, b = rng.randint(1, 9), other
    return (b, a) if rng.random() < 0.5 else (a, b)


def _num_regroupings(a: int, b: int, sign: str) -> int:
    lines, _ = column_lines(a, b, sign)
    return sum("carry 1" in line or "borrow:" in line for line in lines)


def _hard_operands(rng: random.Random, sign: str) -> tuple[int, int]:
    """Two three-digit numbers with a carry (or borrow) in at least two columns."""
    while True:
        a, b = sorted((rng.randint(100, 999), rng.randint(100, 999)), reverse=True)
        if a != b and _num_regroupings(a, b, sign) >= 2:
            return a, b


def add(rng: random.Random, hard: bool = False, short: bool = False) -> Problem:
    if short:
        a, b = _short_operands(rng)
    else:
        a, b = _hard_operands(rng, "+") if hard else (_operand_value(rng), _operand_value(rng))
    phrasing = rng.choice([
        "What is {a} + {b}?", "add {a} and {b}", "What is {a} plus {b}?",
        "Calculate {a} + {b}.", "{a} + {b} = ?", "Can you add {a} and {b} for me?",
        "What's the sum of {a} and {b}?",
    ])
    columns, _ = column_lines(a, b, "+")
    if any("carry 1" in line for line in columns[:-1]):
        rng.random()  # drawn as before the checks existed: held-out problems stay the same
    rng.random()
    r = a + b
    intro = f"I need to add {a} and {b}, digit by digit from the right."
    swapped, _ = column_lines(b, a, "+")
    rounds = [
        f"Wait, let me double-check: {r} - {b} = {a}. Yes, that is right.",
        joined(f"Wait, let me add it again the other way round: {b} + {a}.", *swapped,
               f"So {b} + {a} = {r}, the same as before."),
        f"Wait, is the size right? {r} is more than both {a} and {b}. Good.",
    ]
    slip, confirmed = None, None
    carried = [i for i, line in enumerate(columns[:-1]) if "carry 1" in line]
    if carried:
        slipped, wrong = column_lines(a, b, "+", slip_at=random.Random(f"slip:{a}:{b}")
                                      .choice(carried) + 1)
        slip = None if wrong == r else (joined(intro, *slipped, f"So {a} + {b} = {wrong}."),
                joined(f"Wait, let me add it again the other way round: {b} + {a}.", *swapped,
                       _add_tie_break(a, b, r, wrong)))
        confirmed = f"Wait, let me double-check: {wrong} - {b} = {a}. Yes, that is right."
    misread, other = column_lines(_misread(b, f"{a}:{b}"), a, "+")
    disputed = (f"Wait, let me add it again the other way round: {b} + {a}.", joined(*misread),
                _add_tie_break(a, b, other, r))
    return Problem("add", f"add:{a}:{b}", phrasing.format(a=a, b=b),
                   joined(intro, *columns, f"So {a} + {b} = {r}."), f"{a} + {b} = {r}.",
                   str(r), routes_then_restated(rounds, NUM_ROUNDS), slip, confirmed, disputed)


def _add_tie_break(a: int, b: int, again: int, before: int) -> str:
    """Two sums that disagree, settled by a third, the first way round, as count's walks
    are (`tasks._tie_break`). Where the later sum always won (it caught a planted slip)
    and the re-add always ended "the same as before", the forty-second run's re-add
    miscopied an operand ("77 ends in 7" for 79), reached another sum, called it "the
    same as before", and the answer took it."""
    r = a + b
    columns, _ = column_lines(a, b, "+")
    who = ("the same as the other way round, so I slipped before" if again == r else
           "the same as the first time, so I slipped the other way round")
    return joined(f"So {b} + {a} = {again}, not {before}: one of the two sums slipped. "
                  f"Let me add once more: {a} + {b}.", *columns,
                  f"So {a} + {b} = {r}, {who}.", f"So {a} + {b} = {r}.")


def _misread(n: int, seed: str) -> int:
    """`n` with one digit misread as a check miscopies it: the digit beside it copied
    (79 read as 77), or one more or less where both are alike."""
    digits = list(str(n))
    rng = random.Random(f"misread:{seed}")
    i = rng.randrange(len(digits))
    beside = [digits[j] for j in (i - 1, i + 1) if 0 <= j < len(digits) and digits[j] != digits[i]]
    if beside:
        digits[i] = rng.choice(beside)
    else:
        digits[i] = str((int(digits[i]) + rng.choice((1, 9))) % 10)
    if digits[0] == "0" and len(digits) > 1:
        digits[0] = "1" if n // 10 ** (len(digits) - 1) != 1 else "2"
    return int("".join(digits))


def subtract(rng: random.Random, hard: bool = False, short: bool = False) -> Problem:
    if hard:
        a, b = _hard_operands(rng, "-")
    else:
        a, b = _short_operands(rng) if short else (_operand_value(rng), _operand_value(rng))
        while short and a == b:
            a, b = _short_operands(rng)
        a, b = max(a, b), min(a, b)
    phrasing = rng.choice([
        "What is {a} - {b}?", "subtract {b} from {a}", "What is {a} minus {b}?",
        "Calculate {a} - {b}.", "{a} - {b} = ?", "What's the difference between {a} and {b}?",
    ])
    rng.random()  # drawn as before the checks existed: held-out problems stay the same
    r = a - b
    intro = f"I need to compute {a} - {b}, digit by digit from the right."
    columns, _ = column_lines(a, b, "-")
    added_back, _ = column_lines(r, b, "+")
    rounds = [
        f"Wait, let me double-check: {r} + {b} = {a}. Yes, that is right.",
        joined(f"Wait, let me check by adding back: {r} + {b} should give {a}.", *added_back,
               f"So {r} + {b} = {a}, as it should be."),
        f"Wait, is the size right? {r} is less than {a}, as it should be. Good.",
    ]
    slip, confirmed = None, None
    borrowed = [i for i, line in enumerate(columns[:-1]) if "borrow:" in line]
    if borrowed:
        at = random.Random(f"slip:{a}:{b}").choice(borrowed) + 1
        slipped, wrong = column_lines(a, b, "-", slip_at=at)
        wrong_back, back = column_lines(wrong, b, "+")
        slip = None if wrong == r else (joined(intro, *slipped, f"So {a} - {b} = {wrong}."),
                joined(f"Wait, let me check by adding back: {wrong} + {b} should give {a}.",
                       *wrong_back, f"So {wrong} + {b} = {back}, not {a}: one of the two "
                       "slipped. Let me subtract again.", *columns,
                       f"So {a} - {b} = {r}, not {wrong} as the first time, so I slipped the "
                       "first time.", f"So {a} - {b} = {r}."))
        confirmed = f"Wait, let me double-check: {wrong} + {b} = {a}. Yes, that is right."
    # The adding back can miscopy too: the subtraction done again settles it, as it
    # settles a slip the adding back caught.
    misread, back = column_lines(_misread(r, f"{a}:{b}"), b, "+")
    disputed = (f"Wait, let me check by adding back: {r} + {b} should give {a}.",
                joined(*misread),
                joined(f"So {r} + {b} = {back}, not {a}: one of the two slipped. "
                       "Let me subtract again.", *columns,
                       f"So {a} - {b} = {r}, the same as the first time, so I slipped in "
                       "the adding back.", f"So {a} - {b} = {r}."))
    return Problem("subtract", f"sub:{a}:{b}", phrasing.format(a=a, b=b),
                   joined(intro, *columns, f"So {a} - {b} = {r}."), f"{a} - {b} = {r}.",
                   str(r), routes_then_restated(rounds, NUM_ROUNDS), slip, confirmed, disputed)
