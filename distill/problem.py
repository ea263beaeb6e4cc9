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

# Separates pieces of an assistant reply that the server joins as token ids, not
# as text (a splice): `distill.train.encode_chat` tokenizes each piece on its own.
SPLICE = "\x1e"


@dataclass(frozen=True, slots=True)
class Problem:
    task: str
    key: str  # canonical form of the problem, used for the train/test split
    question: str
    first_pass: str  # the working, up to its first conclusion
    answer: str
    expected: str  # the value an evaluator looks for in the answer
    # Checks after the first pass; each begins with the server's wait text ("Wait"),
    # the first is the short one the unforced model does, the rest cycle through
    # other routes to the same result.
    rounds: tuple[str, ...] = ()
    # A first pass with a planted slip and the check that catches and corrects it;
    # it replaces the first two rounds.
    slip: tuple[str, str] | None = None

    @property
    def reasoning(self) -> str:
        return self.trace()

    def trace(self, num_rounds: int = 1, slipped: bool = False, splice: str = "") -> str:
        """The working and `num_rounds` checks; `splice` marks where each check's "Wait"
        is spliced in (see SPLICE)."""
        first, rounds = self.first_pass, self.rounds
        if slipped and self.slip is not None:
            first, rounds = self.slip[0], (self.slip[1], *self.rounds[2:])
        return f"\n{splice}".join([first, *rounds[:num_rounds]])

    @property
    def json_answer(self) -> str:
        """The answer as compact JSON, `{"answer":843}`: what a structured request
        (response_format) constrains the answer to, seen now and then in training so
        that a constrained answer knows how to end."""
        if self.task == "sort":
            return f'{{"answer":[{self.expected.replace(", ", ",")}]}}'
        return f'{{"answer":{self.expected}}}'

    def messages(self, num_rounds: int = 1, slipped: bool = False,
                 as_json: bool = False) -> list[dict[str, str]]:
        # The checks' "Wait" is tokenized apart, as the server splices its token ids
        # where the model's "</think>" would have been.
        trace = self.trace(num_rounds, slipped, SPLICE)
        answer = self.json_answer if as_json else f"\n\n{self.answer}"
        assistant = f"<think>\n{trace}\n</think>{answer}"
        return [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": assistant},
        ]

    def closed_early(self, rng: random.Random, close_text: str,
                     num_rounds: int = 1) -> list[dict[str, str]]:
        """The trace cut at a random point and closed as the server closes it at a cap.

        The cut falls where a token may end (before a space or after a newline), so
        the prefix tokenizes as it would inside the whole trace; the close text is a
        separate piece, as the server splices its token ids.
        """
        text = self.trace(num_rounds, splice=SPLICE)
        cuts = [i for i in range(1, len(text)) if text[i] == " " or text[i - 1] == "\n"]
        cut = rng.choice(cuts) if cuts else len(text)
        assistant = (f"<think>\n{text[:cut]}{SPLICE}{close_text}</think>{SPLICE}"
                     f"\n\n{self.answer}")
        return [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": assistant},
        ]


def cycle(rounds: list[str], num_rounds: int) -> tuple[str, ...]:
    """The first round, then the others repeated in turn up to `num_rounds`."""
    first, rest = rounds[0], rounds[1:]
    return (first, *(rest[i % len(rest)] for i in range(num_rounds - 1))) if rest else (first,)
