"""Converts R1-distill SFT data (JSONL) into chat records for the trainer.

Two row formats are read:
- the 110k Chinese R1-distill set: `input`, `reasoning_content`, `content`
  (plus metadata such as `repo_name`, `score`);
- its SFT variant: `instruction`, `input`, `output`, thinking inside
  `<think>...</think>` at the start of `output`.
Each written record is {"messages": [user, assistant]} with the assistant turn
"<think>\\n{reasoning}\\n</think>\\n\\n{answer}". Every skipped line is counted
under a reason, and the first few of each reason are named by line number.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

THINK_RE = re.compile(r"^\s*<think>(.*?)</think>\s*(.*)$", re.DOTALL)
EXAMPLES_PER_REASON = 5


class Skip(Exception):
    """A row that cannot become a training record; the message is the reason."""


@dataclass(slots=True)
class Report:
    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)

    def skip(self, reason: str, line_no: int) -> None:
        self.skipped[reason] += 1
        named = self.examples.setdefault(reason, [])
        if len(named) < EXAMPLES_PER_REASON:
            named.append(line_no)

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped),
                "example_lines": self.examples}


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Skip(f"field '{key}' is not a string")
    return value.strip()


def parse_row(row: Any) -> tuple[str, str, str]:
    """(question, reasoning, answer) of a row in either format."""
    if not isinstance(row, dict):
        raise Skip("line is not a JSON object")
    if "reasoning_content" in row:
        question, reasoning, answer = (_text(row, "input"), _text(row, "reasoning_content"),
                                       _text(row, "content"))
    elif "output" in row:
        question = "\n\n".join(t for t in (_text(row, "instruction"), _text(row, "input")) if t)
        match = THINK_RE.match(_text(row, "output"))
        if match is None:
            raise Skip("output has no <think>...</think> block")
        reasoning, answer = match.group(1).strip(), match.group(2).strip()
    else:
        raise Skip("unknown format (no reasoning_content or output field)")
    for name, value in (("question", question), ("reasoning", reasoning), ("answer", answer)):
        if not value:
            raise Skip(f"empty {name}")
    return question, reasoning, answer


def to_record(question: str, reasoning: str, answer: str) -> dict[str, Any]:
    return {"messages": [
        {"role": "user", "content": question},
        {"role": "assistant", "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"},
    ]}


@dataclass(slots=True)
class Filters:
    min_score: float | None = None
    max_tokens: int | None = None
    count_tokens: Callable[[str], int] | None = None

    def check(self, row: dict[str, Any], record: dict[str, Any]) -> None:
        if self.min_score is not None:
            score = row.get("score")
            if not isinstance(score, int | float):
                raise Skip("no numeric score")
            if score < self.min_score:
                raise Skip(f"score below {self.min_score:g}")
        if self.max_tokens is not None and self.count_tokens is not None:
            text = "".join(m["content"] for m in record["messages"])
            if self.count_tokens(text) > self.max_tokens:
                raise Skip(f"longer than {self.max_tokens} tokens")


def convert_lines(lines: Iterator[str], filters: Filters, report: Report
                  ) -> Iterator[dict[str, Any]]:
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise Skip("malformed JSON") from exc
            record = to_record(*parse_row(row))
            filters.check(row, record)
        except Skip as skip:
            report.skip(str(skip), line_no)
            continue
        report.written += 1
        yield record


def convert_file(src: Path, dst: Path, filters: Filters) -> Report:
    report = Report()
    with src.open(encoding="utf-8", errors="replace") as f_in, \
            dst.open("w", encoding="utf-8") as out:
        for record in convert_lines(f_in, filters, report):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return report
