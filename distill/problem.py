"""A teacher's problem: the question, its working, the checks that may follow it.

The working and its checks are kept apart so that one problem can be rendered
as any of the traces the demo model learns from: with one check (what the
unforced model does), with more checks (what a forced "Wait" asks for), with a
first pass that slips and a check that catches it, or cut short and closed the
way the server closes thinking at a cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# The traces' checks open with exactly what the server splices by default.
from server.budget import DEFAULT_WAIT_TEXT as WAIT_TEXT

# Separates pieces of an assistant reply that the server joins as token ids, not
# as text (a splice): `distill.train.encode_chat` tokenizes each piece on its own.
SPLICE = "\x1e"
# Opens a piece the model reads but is not trained to write: what the server
# splices (a forced "Wait", the close text) and a planted slip. Trained on, a forced
# "Wait" taught the model to go on checking by itself after one (the stop after a
# check was learnt from how many checks the traces held), and the slips taught it
# to slip: the previous demo model's sort and count errors were the planted ones.
FORCED = "\x1d"
# Marks where a cap cuts a piece: the piece is tokenized whole and only the tokens
# that end before the mark are kept, so the cut falls between any two tokens, as
# the server's cap does, and the tokens kept are those of the uncut trace.
CUT = "\x1f"


def plain(text: str) -> str:
    """The text without its splice marks."""
    return text.replace(SPLICE, "").replace(FORCED, "").replace(CUT, "")


@dataclass(frozen=True, slots=True)
class Problem:
    task: str
    key: str  # canonical form of the problem, used for the train/test split
    question: str
    first_pass: str  # the working, up to its first conclusion
    answer: str
    expected: str  # the value an evaluator looks for in the answer
    # Checks after the first pass; each begins with the server's wait text ("Wait"),
    # the first is the short one the unforced model does, the rest take
    # other routes to the same result.
    rounds: tuple[str, ...] = ()
    # A first pass with a planted slip and the check that catches and corrects it;
    # it replaces the first two rounds.
    slip: tuple[str, str] | None = None
    # A short first check that lets the slip through (as the model's own checks do when
    # it slips): a trace with it shows a later, forced check catching the slip.
    confirmed: str | None = None
    # A second check that errs: its opening, its erring working (read, not learnt, as a
    # slip is) and what follows from the disagreement. It replaces the second round.
    disputed: tuple[str, str, str] | None = None

    @property
    def reasoning(self) -> str:
        return self.trace()

    def trace(self, num_rounds: int = 1, slipped: bool = False, marked: bool = False,
              late: bool = False, disputed: bool = False) -> str:
        """The working and `num_rounds` checks. `marked` puts in the splice marks: each
        check is a piece of its own; the first check's "Wait" is the model's own, every
        later one is forced, and a slipped first pass is read, not learnt. `late`: the
        slip passes the first check and the second catches it. `disputed` (without a
        slip): the second check errs and what follows settles it."""
        first, rounds = self.first_pass, self.rounds
        late = late and self.confirmed is not None and num_rounds > 1
        disputed = (disputed and not slipped and self.disputed is not None
                    and num_rounds > 1)
        if slipped and self.slip is not None:
            first, rounds = self.slip[0], (self.slip[1], *self.rounds[2:])
            if late:
                rounds = (str(self.confirmed), self.slip[1], *self.rounds[2:])
        if disputed and self.disputed is not None:
            opening, erring, settled = self.disputed
            # Marked, the erring walk is a piece of its own that is read, not learnt.
            second = (f"{opening}\n{SPLICE}{FORCED}{erring}\n{SPLICE}{settled}" if marked
                      else "\n".join(self.disputed))
            rounds = (rounds[0], second, *rounds[2:])
        if not marked:
            return "\n".join([first, *rounds[:num_rounds]])
        read_only = slipped and self.slip is not None
        pieces = [f"{FORCED}{first}" if read_only else first,
                  *(f"{FORCED}{r}" if read_only and late else r for r in rounds[:1])]
        for check in rounds[1:num_rounds]:
            assert check.startswith(WAIT_TEXT), check
            pieces.append(f"{FORCED}{WAIT_TEXT}{SPLICE}{check[len(WAIT_TEXT):]}")
        return f"\n{SPLICE}".join(pieces)

    @property
    def json_answer(self) -> str:
        """The answer as compact JSON, `{"answer":843}`: what a structured request
        (response_format) constrains the answer to, seen now and then in training so
        that a constrained answer knows how to end."""
        if self.task == "sort":
            return f'{{"answer":[{self.expected.replace(", ", ",")}]}}'
        return f'{{"answer":{self.expected}}}'

    def messages(self, num_rounds: int = 1, slipped: bool = False, as_json: bool = False,
                 late: bool = False, disputed: bool = False) -> list[dict[str, str]]:
        # The checks' "Wait" is tokenized apart, as the server splices its token ids
        # where the model's "</think>" would have been.
        trace = self.trace(num_rounds, slipped, marked=True, late=late, disputed=disputed)
        answer = self.json_answer if as_json else f"\n\n{self.answer}"
        assistant = f"<think>\n{trace}\n</think>{answer}"
        return [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": assistant},
        ]

    def closed_early(self, rng: random.Random, close_text: str,
                     num_rounds: int = 1) -> list[dict[str, str]]:
        """The trace cut at a random point and closed as the server closes it at a cap.

        The cut is marked (`CUT`) at a random character of one piece; encoding keeps
        that piece's tokens that end before the mark, so a cut may fall between any
        two tokens ("6" and "." included), not only at a word. Cut only before a
        space or after a newline, the previous demo model had never read the close
        text after a walk line's number, and at a cap of 64 it walked on inside its
        answer. The close text is a separate piece, as the server splices its ids.
        """
        text = self.trace(num_rounds, marked=True)
        chars = [i for i, char in enumerate(text) if char not in (SPLICE, FORCED)]
        at = chars[rng.randrange(len(chars))] + 1
        kept = f"{text[:at]}{CUT}{text[at:].split(SPLICE, 1)[0]}"
        assistant = (f"<think>\n{kept}{SPLICE}{FORCED}{close_text}</think>"
                     f"{SPLICE}\n\n{self.answer}")
        return [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": assistant},
        ]


def routes_then_restated(rounds: list[str], num_rounds: int, settled: str = "") -> tuple[str, ...]:
    """The checks in turn, then short ones that restate the result (`settled`), if any.

    Once every route has been taken, another check would repeat one; a short line
    keeps eight forced waits inside the lengths the model trained on (add and subtract
    traces with the long checks repeated ran past 1,000 tokens). Sums restate nothing:
    each restated line copied the one above, and after six of them the copies (and the
    answer copying the last) drifted a digit ("= 177" after "= 167" throughout: the
    thirty-sixth and forty-second runs lost up to 23 points of sums at eight waits).
    """
    more = f"{WAIT_TEXT}, I have checked it every way I know, and each check agrees."
    return (*rounds, *[f"{more} {settled}" if settled else more] * num_rounds)[:num_rounds]


def joined(*texts: str) -> str:
    """A trace's lines, joined: every task writes its working this way."""
    return "\n".join(texts)
