"""A synthetic teacher that writes R1-style reasoning traces for small tasks.

Every task returns a `Problem`: the user's question, the teacher's thinking
(worked step by step, with R1's "Wait, let me double-check" self-check) and
the plain answer. Generation is deterministic for a seed, and train and test
splits are disjoint because each problem's canonical key is hashed into one
split only.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

TASKS = ("add", "subtract", "count", "compare", "sort", "chat")
TEST_SHARE = 0.1


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


def split_of(key: str) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return "test" if digest[0] < 256 * TEST_SHARE else "train"


def _digits_right_to_left(n: int, width: int) -> list[int]:
    return [int(c) for c in str(n).zfill(width)[::-1]]


# Naming the column on each line tells a small model which digit to look up
# in the question; without it the digit lookup was its most common error.
COLUMNS = ("Ones", "Tens", "Hundreds", "Thousands")


def _add_columns(a: int, b: int, forget_carry_at: int = -1) -> tuple[list[str], int]:
    """Column-by-column addition lines; `forget_carry_at` plants the slip R1 catches."""
    width = max(len(str(a)), len(str(b)))
    lines, digits, carry = [], [], 0
    pairs = zip(_digits_right_to_left(a, width), _digits_right_to_left(b, width), strict=True)
    for i, (x, y) in enumerate(pairs):
        if i == forget_carry_at:
            carry = 0
        total = x + y + carry
        extra = f" + {carry}" if carry else ""
        last = i == width - 1
        if total >= 10 and not last:
            lines.append(f"{COLUMNS[i]}: {x} + {y}{extra} = {total}, write {total - 10}, carry 1.")
            digits.append(str(total - 10))
        else:
            lines.append(f"{COLUMNS[i]}: {x} + {y}{extra} = {total}, write {total}.")
            digits.append(str(total)[::-1])
        carry = 1 if total >= 10 and not last else 0
    return lines, int("".join(digits)[::-1])


def _add(rng: random.Random) -> Problem:
    a, b = rng.randint(10, 999), rng.randint(10, 999)
    phrasing = rng.choice(
        [
            "What is {a} + {b}?",
            "add {a} and {b}",
            "What is {a} plus {b}?",
            "Calculate {a} + {b}.",
            "{a} + {b} = ?",
            "Can you add {a} and {b} for me?",
            "What's the sum of {a} and {b}?",
        ]
    )
    result = a + b
    lines = [f"I need to add {a} and {b}. I will go digit by digit from the right."]
    columns, _ = _add_columns(a, b)
    carried = [i for i, line in enumerate(columns[:-1]) if "carry 1" in line]
    if carried and rng.random() < SLIP_RATE:
        slipped, wrong = _add_columns(a, b, forget_carry_at=carried[0] + 1)
        if wrong != result:
            lines += slipped
            lines.append(f"So {a} + {b} = {wrong}.")
            lines.append(f"Wait, let me double-check: {wrong} - {b} = {wrong - b}, but it "
                         f"should be {a}. I must have dropped a carry. Let me redo it.")
    lines += columns
    lines.append(f"So {a} + {b} = {result}.")
    lines.append(f"Wait, let me double-check: {result} - {b} = {a}. Yes, that is right.")
    _more_checks(rng, lines, [
        f"Wait, let me also check the last digit: {a % 10} + {b % 10} ends in "
        f"{(a + b) % 10}, and {result} ends in {result % 10}. Good.",
        f"Wait, is the size right? {a} + {b} is a bit more than {max(a, b)}, and {result} "
        f"is. Good.",
    ])
    return Problem(
        "add", f"add:{a}:{b}", phrasing.format(a=a, b=b), "\n".join(lines),
        f"{a} + {b} = {result}.", str(result),
    )


SLIP_RATE = 0.1
EXTRA_CHECK_RATE = 0.35


def _more_checks(rng: random.Random, lines: list[str], checks: list[str]) -> None:
    """Sometimes re-checks once more, so the model knows how to go on after "Wait"."""
    for check in checks:
        if rng.random() < EXTRA_CHECK_RATE:
            lines.append(check)


def _subtract(rng: random.Random) -> Problem:
    a, b = rng.randint(10, 999), rng.randint(10, 999)
    a, b = max(a, b), min(a, b)
    phrasing = rng.choice(
        [
            "What is {a} - {b}?",
            "subtract {b} from {a}",
            "What is {a} minus {b}?",
            "Calculate {a} - {b}.",
            "{a} - {b} = ?",
            "What's the difference between {a} and {b}?",
        ]
    )
    width = len(str(a))
    lines = [f"I need to compute {a} - {b}. I will go digit by digit from the right."]
    borrow = 0
    pairs = zip(_digits_right_to_left(a, width), _digits_right_to_left(b, width), strict=True)
    for i, (x, y) in enumerate(pairs):
        # The borrow gets its own step: folding it into the digit was a frequent slip.
        top = x - borrow
        head = f"{COLUMNS[i]}: {x} - {y}"
        if borrow:
            head += f", but {x} minus the borrowed 1 is {top}"
        if top < y:
            lines.append(f"{head}, and {top} is less than {y}, so borrow: "
                         f"{top + 10} - {y} = {top + 10 - y}.")
            borrow = 1
        elif borrow:
            lines.append(f"{head}, so {top} - {y} = {top - y}.")
            borrow = 0
        else:
            lines.append(f"{head} = {top - y}.")
    result = a - b
    lines.append(f"So {a} - {b} = {result}.")
    lines.append(f"Wait, let me double-check: {result} + {b} = {a}. Yes, that is right.")
    _more_checks(rng, lines, [
        f"Wait, is the size right? {result} is less than {a}, as it should be. Good.",
    ])
    return Problem(
        "subtract", f"sub:{a}:{b}", phrasing.format(a=a, b=b), "\n".join(lines),
        f"{a} - {b} = {result}.", str(result),
    )


WORDS = (
    "strawberry banana apple cherry mississippi letter bookkeeper committee "
    "balloon coffee raspberry pepper tomato potato giraffe address "
    "success parallel necessary occurrence programming assessment vacuum broccoli "
    "accommodate embarrass millennium possession questionnaire referee tennessee volleyball "
    "grasshopper kangaroo peppermint blueberry hippopotamus llama pineapple watermelon "
    "cucumber avocado "
).split()


def _count(rng: random.Random) -> Problem:
    word = rng.choice(WORDS)
    letter = rng.choice([*sorted(set(word)), rng.choice("aeiourst")])
    phrasing = rng.choice(
        [
            "How many {l}'s are in {w}?",
            "How many times does the letter {l} appear in {w}?",
            "Count the letter {l} in the word {w}.",
            "how many {l} in {w}",
            "How many {l}'s are there in the word \"{w}\"?",
        ]
    )
    lines = [f"Let me spell {word} one letter at a time: {'-'.join(word)}."]
    count = 0
    for ch in word:
        # The letter sought is restated on each line, so the comparison is local.
        if ch == letter:
            count += 1
            lines.append(f"{ch} vs {letter}: yes, that makes {count}.")
        else:
            lines.append(f"{ch} vs {letter}: no.")
    positions = [str(i + 1) for i, c in enumerate(word) if c == letter]
    named = f"{letter}'s" if count != 1 else letter
    verb = "is" if count == 1 else "are"
    lines.append(f"So there {verb} {count} {named} in {word}.")
    where = f"at position {', '.join(positions)}" if positions else "nowhere"
    lines.append(f"Wait, let me double-check by counting again: {letter} is {where}. "
                 f"The count is {count}.")
    _more_checks(rng, lines, [
        f"Wait, let me spell it once more: {' '.join(word)}. I see {letter} {count} "
        f"time{'s' if count != 1 else ''}. Good.",
    ])
    answer = f"There {verb} {count} {named} in \"{word}\"."
    return Problem(
        "count", f"count:{word}:{letter}", phrasing.format(l=letter, w=word),
        "\n".join(lines), answer, str(count),
    )


def _decimal(rng: random.Random) -> str:
    whole = rng.randint(0, 20)
    places = rng.randint(1, 2)
    return f"{whole}.{rng.randint(1, 10**places - 1):0{places}d}".rstrip("0") or "0"


def _compare(rng: random.Random) -> Problem:
    x = _decimal(rng)
    y = _decimal(rng)
    while y == x:
        y = _decimal(rng)
    if rng.random() < 0.5:  # the classic trap: same whole part
        y = f"{x.split('.')[0]}.{y.split('.')[1]}"
        if y == x:
            y = f"{x}1"
    phrasing = rng.choice(
        [
            "Which is larger, {x} or {y}?",
            "Which is bigger: {x} or {y}?",
            "Is {x} greater than {y}?",
            "compare {x} and {y}",
            "Which number is greater, {x} or {y}?",
        ]
    )
    wx, fx = x.split(".")
    wy, fy = y.split(".")
    n = max(len(fx), len(fy))
    px, py = f"{wx}.{fx.ljust(n, '0')}", f"{wy}.{fy.ljust(n, '0')}"
    big = x if float(x) > float(y) else y
    small = y if big == x else x
    lines = [f"I need to compare {x} and {y}. First the whole parts: {wx} and {wy}."]
    if wx != wy:
        lines.append(f"{max(int(wx), int(wy))} is larger, so {big} is larger.")
    else:
        lines.append("The whole parts are equal, so I compare the decimal parts.")
        lines.append(f"Pad them to the same length: {px} and {py}.")
        lines.append(f"{fx.ljust(n, '0')} versus {fy.ljust(n, '0')}: "
                     f"{big} has the larger decimal part.")
    lines.append(f"Wait, let me double-check: {px} versus {py}. Yes, {big} is larger.")
    _more_checks(rng, lines, [
        f"Wait, think of it as money: {big} is more than {small}. Good.",
    ])
    return Problem(
        "compare", f"cmp:{x}:{y}", phrasing.format(x=x, y=y), "\n".join(lines),
        f"{big} is larger than {small}.", big,
    )


def _sort(rng: random.Random) -> Problem:
    numbers = rng.sample(range(1, 100), rng.randint(3, 5))
    shown = ", ".join(map(str, numbers))
    phrasing = rng.choice(
        [
            "Sort these numbers: {s}",
            "Sort {s} from smallest to largest.",
            "Put these in ascending order: {s}",
            "sort {s}",
            "Can you order {s} from low to high?",
        ]
    )
    lines = [f"I will sort {shown} by picking the smallest each time."]
    rest = list(numbers)
    done: list[int] = []
    while rest:
        smallest = min(rest)
        rest.remove(smallest)
        done.append(smallest)
        left = ", ".join(map(str, rest)) or "nothing"
        lines.append(f"The smallest is {smallest}. Left: {left}.")
    result = ", ".join(map(str, done))
    lines.append(f"Wait, let me double-check that each number is at most the next: {result}. Yes.")
    _more_checks(rng, lines, [
        f"Wait, did I keep every number? {len(numbers)} in, {len(done)} out. Good.",
    ])
    return Problem(
        "sort", f"sort:{shown}", phrasing.format(s=shown), "\n".join(lines),
        f"From smallest to largest: {result}.", result,
    )


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


GENERATORS: dict[str, Callable[[random.Random], Problem]] = {
    "add": _add,
    "subtract": _subtract,
    "count": _count,
    "compare": _compare,
    "sort": _sort,
    "chat": _chat,
}
WEIGHTS = {"add": 3, "subtract": 3, "count": 2, "compare": 2, "sort": 3, "chat": 1}


def problems(split: str, seed: int, tasks: tuple[str, ...] = TASKS) -> Iterator[Problem]:
    """Endless stream of problems of one split; chat prompts belong to both splits."""
    rng = random.Random(seed)
    names = [t for t in tasks for _ in range(WEIGHTS[t])]
    while True:
        problem = GENERATORS[rng.choice(names)](rng)
        if problem.task == "chat" or split_of(problem.key) == split:
            yield problem


def sample(split: str, count: int, seed: int, tasks: tuple[str, ...] = TASKS) -> list[Problem]:
    stream = problems(split, seed, tasks)
    return [next(stream) for _ in range(count)]
