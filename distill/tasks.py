"""The teacher's five scored tasks, each written as an R1-style reasoning trace.

The traces are shaped for what a 3M-parameter model can learn in half an hour:
every token it must produce is either copied from a short, unambiguous
context close by, or a small function (a digit sum, a comparison) of such
tokens. The previous design copied digits from far back ("So 971 + 552 = ..."
re-read the written digits in reverse; lists were re-copied after ", ", where
the token before gives no clue which number comes next), and copying was
where the model failed. Hence: the number being worked on is restated at each
step and shortened by one digit ("457 ends in 7", then "45 ends in 5"), the
result grows in place ("So far 43"), words are walked by position, and the
winning number of a comparison is built from digits just stated.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

# Naming the column on each line tells the model where it is in the number.
COLUMNS = ("Ones", "Tens", "Hundreds", "Thousands")
SLIP_RATE = 0.1
EXTRA_CHECK_RATE = 0.3
REPEAT_RATE = 0.3
SHARED_DECADE_RATE = 0.3


@dataclass(frozen=True, slots=True)
class Problem:
    task: str
    key: str  # canonical form of the problem, used for the train/test split
    question: str
    reasoning: str
    answer: str
    expected: str  # the value an evaluator looks for in the answer

    def messages(self) -> list[dict[str, str]]:
        assistant = f"<think>\n{self.reasoning}\n</think>\n\n{self.answer}"
        return [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": assistant},
        ]


def _more_checks(rng: random.Random, lines: list[str], checks: list[str]) -> None:
    """Sometimes re-checks once more, so the model knows how to go on after "Wait"."""
    for check in checks:
        if rng.random() < EXTRA_CHECK_RATE:
            lines.append(check)


def _operand(rest: str) -> str:
    """What is left of an operand at this column: "45 ends in 5", or nothing left."""
    return f"{rest} ends in {rest[-1]}" if rest else "nothing left, so 0"


def column_lines(a: int, b: int, sign: str, forget_carry_at: int = -1) -> tuple[list[str], int]:
    """Column-by-column lines for a + b or a - b (a >= b); the result they reach.

    `forget_carry_at` plants the slip that R1's self-check catches (addition).
    """
    rest_a, rest_b = str(a), str(b)
    lines: list[str] = []
    written, carry = "", 0
    for i in range(len(rest_a) if sign == "-" else max(len(rest_a), len(rest_b))):
        x, y = int(rest_a[-1]) if rest_a else 0, int(rest_b[-1]) if rest_b else 0
        # "and", not a comma: after a comma `--numbers lists` makes "38" one token.
        head = f"{COLUMNS[i]}: {_operand(rest_a)} and {_operand(rest_b)}."
        last = len(rest_a) <= 1 and len(rest_b) <= 1
        if sign == "+":
            step, digit, carry = _add_step(x, y, 0 if i == forget_carry_at else carry, last)
        else:
            step, digit, carry = _subtract_step(x, y, carry)
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


def _operand_value(rng: random.Random) -> int:
    return int(_repeat_a_digit(rng, str(rng.randint(10, 999))))


def _repeat_a_digit(rng: random.Random, digits: str) -> str:
    """Sometimes copies a digit onto its neighbour: 317 -> 337.

    Numbers like 322 and 11 were the model's worst copies (it wrote 32 and 1:
    which "2" comes next is ambiguous to a small model), so they are seen more
    often than chance would show them.
    """
    if len(digits) < 2 or rng.random() >= REPEAT_RATE:
        return digits
    i = rng.randrange(len(digits) - 1)
    return digits[: i + 1] + digits[i] + digits[i + 2:]


def add(rng: random.Random) -> Problem:
    a, b = _operand_value(rng), _operand_value(rng)
    phrasing = rng.choice([
        "What is {a} + {b}?", "add {a} and {b}", "What is {a} plus {b}?",
        "Calculate {a} + {b}.", "{a} + {b} = ?", "Can you add {a} and {b} for me?",
        "What's the sum of {a} and {b}?",
    ])
    result = a + b
    lines = [f"I need to add {a} and {b}, digit by digit from the right."]
    columns, _ = column_lines(a, b, "+")
    carried = [i for i, line in enumerate(columns[:-1]) if "carry 1" in line]
    if carried and rng.random() < SLIP_RATE:
        slipped, wrong = column_lines(a, b, "+", forget_carry_at=carried[0] + 1)
        if wrong != result:
            lines += slipped
            lines.append(f"So {a} + {b} = {wrong}.")
            lines.append(f"Wait, let me double-check: {wrong} - {b} should be {a}, and it is "
                         f"not. I must have dropped a carry. Let me redo it.")
    lines += columns
    size_check = f"{result} is more than both {a} and {b}"
    return _worked("add", rng, phrasing.format(a=a, b=b), lines, a, b, size_check)


def subtract(rng: random.Random) -> Problem:
    a, b = _operand_value(rng), _operand_value(rng)
    a, b = max(a, b), min(a, b)
    phrasing = rng.choice([
        "What is {a} - {b}?", "subtract {b} from {a}", "What is {a} minus {b}?",
        "Calculate {a} - {b}.", "{a} - {b} = ?", "What's the difference between {a} and {b}?",
    ])
    result = a - b
    lines = [f"I need to compute {a} - {b}, digit by digit from the right."]
    columns, _ = column_lines(a, b, "-")
    lines += columns
    size_check = f"{result} is less than {a}, as it should be"
    return _worked("subtract", rng, phrasing.format(a=a, b=b), lines, a, b, size_check)


def _worked(task: str, rng: random.Random, question: str, lines: list[str], a: int, b: int,
            size_check: str) -> Problem:
    """The ending add and subtract share: the result, the inverse check, a size check."""
    sign, inverse, key = ("+", "-", "add") if task == "add" else ("-", "+", "sub")
    result = a + b if task == "add" else a - b
    lines.append(f"So {a} {sign} {b} = {result}.")
    lines.append(f"Wait, let me double-check: {result} {inverse} {b} = {a}. Yes, that is right.")
    _more_checks(rng, lines, [f"Wait, is the size right? {size_check}. Good."])
    return Problem(task, f"{key}:{a}:{b}", question, "\n".join(lines),
                   f"{a} {sign} {b} = {result}.", str(result))


WORDS = (
    "strawberry banana apple cherry mississippi letter bookkeeper committee "
    "balloon coffee raspberry pepper tomato potato giraffe address "
    "success parallel necessary occurrence programming assessment vacuum broccoli "
    "accommodate embarrass millennium possession questionnaire referee tennessee volleyball "
    "grasshopper kangaroo peppermint blueberry hippopotamus llama pineapple watermelon "
    "cucumber avocado "
).split()


def count(rng: random.Random, words: Sequence[str] = WORDS) -> Problem:
    word = rng.choice(words)
    letter = rng.choice([*sorted(set(word)), rng.choice("aeiourst")])
    phrasing = rng.choice([
        "How many {l}'s are in {w}?", "How many times does the letter {l} appear in {w}?",
        "Count the letter {l} in the word {w}.", "how many {l} in {w}",
        "How many {l}'s are there in the word \"{w}\"?",
    ])
    # Walking the word by numbered position, rather than copying a spelled-out
    # word, keeps repeated letters ("s-s-e-e") from losing the model's place; the
    # letter sought is restated on each line so the yes/no is decided locally
    # (stated once at the top, the model learnt to answer "no" to everything).
    lines = [f"I will go through {word} letter by letter, looking for {letter}."]
    found = 0
    for position, ch in enumerate(word, start=1):
        if ch == letter:
            found += 1
            lines.append(f"{position}. {ch} vs {letter}: yes, that makes {found}.")
        else:
            lines.append(f"{position}. {ch} vs {letter}: no.")
    named = f"{letter}'s" if found != 1 else letter
    verb = "is" if found == 1 else "are"
    lines.append(f"That is all {len(word)} letters, so there {verb} {found} {named} in {word}.")
    lines.append(f"Wait, let me double-check: I said yes {found} time"
                 f"{'s' if found != 1 else ''}. The count is {found}.")
    answer = f"There {verb} {found} {named} in \"{word}\"."
    return Problem("count", f"count:{word}:{letter}", phrasing.format(l=letter, w=word),
                   "\n".join(lines), answer, str(found))


def _decimal(rng: random.Random) -> str:
    whole = _repeat_a_digit(rng, str(rng.randint(0, 20)))
    places = rng.randint(1, 2)
    fraction = f"{rng.randint(1, 10**places - 1):0{places}d}"
    if (repeated := _repeat_a_digit(rng, fraction)) != "00":
        fraction = repeated
    return f"{whole}.{fraction}".rstrip("0")


def compare(rng: random.Random) -> Problem:
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
    compared, deciding = _compare_lines(x, y)
    # The check comes before the conclusion, so the answer copies the winner from
    # the line just above it; checking after it ("10.8 is more than 0.1") made
    # the model mix the two numbers' digits, and the answer copied the mix.
    lines = [f"I need to compare {x} and {y}.", *compared,
             f"Wait, let me double-check: {deciding}, so the {which} number "
             f"is larger.",
             f"So the {which} number, {big}, is larger."]
    return Problem("compare", f"cmp:{x}:{y}", phrasing.format(x=x, y=y), "\n".join(lines),
                   f"{big} is larger than {small}.", big)


def _compare_lines(x: str, y: str) -> tuple[list[str], str]:
    """Whole parts, then tenths, then hundredths, each stated before it is compared;
    and the deciding comparison in words, for the check ("the tenths digit 9 is more
    than 1")."""
    (wx, fx), (wy, fy) = x.split("."), y.split(".")
    if wx != wy:
        big, small = sorted((wx, wy), key=int, reverse=True)
        return ([f"Whole parts: {wx} and {wy}. {big} is larger."],
                f"the whole part {big} is more than {small}")
    lines = [f"Whole parts: {wx} and {wy}, the same, so I look at the decimals."]
    fx, fy = fx.ljust(2, "0"), fy.ljust(2, "0")
    for place, dx, dy in (("Tenths", fx[0], fy[0]), ("Hundredths", fx[1], fy[1])):
        if dx != dy:
            lines.append(f"{place}: {dx} and {dy}. {max(dx, dy)} is larger.")
            return lines, f"the {place.lower()} digit {max(dx, dy)} is more than {min(dx, dy)}"
        lines.append(f"{place}: {dx} and {dy}, the same.")
    raise ValueError(f"{x} and {y} are equal")


def sort(rng: random.Random) -> Problem:
    numbers = _two_digit_numbers(rng, rng.randint(3, 5))
    shown = _listed(numbers)
    phrasing = rng.choice([
        "Sort these numbers: {s}", "Sort {s} from smallest to largest.",
        "Put these in ascending order: {s}", "sort {s}",
        "Can you order {s} from low to high?",
    ])
    # By decades, 10s to 90s: each line looks up the numbers whose tens digit
    # it names, a plain match against the list, and orders a shared decade by
    # the ones digit alone. Picking the smallest of a shrinking list (the
    # previous design) re-copied the list on every line and mixed up the digits
    # of look-alike numbers: 12.5% of held-out lists sorted after 5,400 steps.
    lines = [f"I will sort {shown} by going through the tens: 10s, 20s, and so on."]
    for tens in range(1, 10):
        decade = [n for n in numbers if n // 10 == tens]
        if not decade:
            lines.append(f"{tens}0s: none.")
        elif decade == sorted(decade):
            lines.append(f"{tens}0s: {_listed(decade)}.")
        else:
            ordered = _listed(sorted(decade))
            lines.append(f"{tens}0s: {_listed(decade)}. By the ones digit: {ordered}.")
    result = _listed(sorted(numbers))
    lines.append(f"So in order: {result}.")
    lines.append(f"Wait, let me double-check: I was given {len(numbers)} numbers and I have "
                 f"{len(numbers)}, each at most the next. Yes.")
    return Problem("sort", f"sort:{shown}", phrasing.format(s=shown), "\n".join(lines),
                   f"From smallest to largest: {result}.", result)


def _two_digit_numbers(rng: random.Random, how_many: int) -> list[int]:
    """Distinct 10..99, with a shared tens digit more often than by chance."""
    numbers = rng.sample(range(10, 100), how_many)
    if rng.random() < SHARED_DECADE_RATE:
        tens = numbers[0] // 10
        others = [n for n in range(tens * 10, tens * 10 + 10) if n not in numbers]
        numbers[1] = rng.choice(others)
    return numbers


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))
