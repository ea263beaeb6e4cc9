"""Held-out accuracy through a running server, with the OpenAI SDK.

Answers are parsed from `content` only: thinking that reaches the right number
but an answer that does not is wrong. `dump_path` keeps every exchange (question,
thinking, answer, verdict) as JSON Lines, to read what a model got wrong and why.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from distill import teacher

NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def is_correct(task: str, expected: str, content: str) -> bool:
    numbers = NUMBER_RE.findall(content)
    if not numbers:
        return False
    if task in ("add", "subtract"):
        return bool(numbers[-1] == expected)
    if task in ("count", "compare"):
        return bool(numbers[0] == expected)
    if task == "sort":
        return ", ".join(numbers) == expected
    raise ValueError(f"task {task} has no scored answer")


def has_answer_form(task: str, content: str) -> bool:
    """The answer is what the task asks for (a number, a count, a choice, a list), right
    or wrong, with no thinking left in it."""
    numbers = NUMBER_RE.findall(content)
    if "</think>" in content or "<think>" in content or not numbers:
        return False
    return len(numbers) >= 3 if task == "sort" else True


@dataclass(slots=True)
class Outcome:
    task: str
    key: str  # the problem itself, whatever its phrasing (teacher.Problem.key)
    correct: bool
    answer_form: bool
    end_marker_in_answer: bool
    has_reasoning: bool
    has_content: bool
    closed_thinking: bool
    num_reasoning_tokens: int
    latency_s: float
    # The exchange itself, for a dump; summaries read only the fields above.
    question: str = ""
    reasoning: str = ""
    content: str = ""


@dataclass(frozen=True, slots=True)
class Conversation:
    """What surrounds each held-out question: a system prompt, earlier turns."""

    system_prompt: str | None = None
    num_history_turns: int = 0

    def messages(self, problem: teacher.Problem, index: int) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system_prompt}] \
            if self.system_prompt else []
        history = []
        # Earlier turns are other training problems, answered as a client keeps them:
        # the answer only, never the thinking.
        for earlier in teacher.sample("train", self.num_history_turns, seed=index):
            history += [{"role": "user", "content": earlier.question},
                        {"role": "assistant", "content": earlier.answer}]
        return [*system, *history, {"role": "user", "content": problem.question}]


async def _ask(client: AsyncOpenAI, model: str, messages: list[dict[str, str]],
               problem: teacher.Problem, extra_body: dict[str, Any],
               max_tokens: int) -> Outcome:
    started = time.perf_counter()
    response = await client.chat.completions.create(
        model=model, messages=messages,  # type: ignore[arg-type]
        temperature=0, max_tokens=max_tokens, extra_body=extra_body or None)
    latency_s = time.perf_counter() - started
    choice = response.choices[0]
    content = choice.message.content or ""
    reasoning = (choice.message.model_extra or {}).get("reasoning_content") or ""
    details = response.usage.completion_tokens_details if response.usage else None
    return Outcome(
        task=problem.task,
        key=problem.key,
        correct=is_correct(problem.task, problem.expected, content),
        answer_form=has_answer_form(problem.task, content),
        end_marker_in_answer="</think>" in content,
        has_reasoning=bool(reasoning.strip()),
        has_content=bool(content.strip()),
        closed_thinking=choice.finish_reason == "stop" and bool(content.strip()),
        num_reasoning_tokens=int(details.reasoning_tokens or 0) if details else 0,
        latency_s=latency_s,
        question=messages[-1]["content"],
        reasoning=reasoning,
        content=content,
    )


def held_out(num_problems: int, seed: int, split: str = "standard") -> list[teacher.Problem]:
    """The same number of test problems for each scored task (the first tasks get the
    remainder), so accuracy does not shift when the training mix is reweighted."""
    if split not in teacher.SPLITS:
        raise ValueError(f"split must be one of {teacher.SPLITS}, not {split!r}")
    scored = [t for t in teacher.TASKS if t != "chat"
              and (split != "short" or t in teacher.SHORT_TASKS)]
    per_task, extra = divmod(num_problems, len(scored))
    return [p for i, task in enumerate(scored)
            for p in teacher.sample("test", per_task + (i < extra), seed, tasks=(task,),
                                    hard=split == "hard", short=split == "short",
                                    weights=teacher.HELD_OUT_WEIGHTS)]


async def evaluate(base_url: str, api_key: str, num_problems: int, seed: int = 1234,
                   extra_body: dict[str, Any] | None = None, concurrency: int = 8,
                   max_tokens: int = 1024, split: str = "standard",
                   conversation: Conversation | None = None,
                   dump_path: Path | None = None) -> dict[str, Any]:
    problems = held_out(num_problems, seed, split)
    if dump_path is not None:  # before the run, not after minutes of it
        dump_path.parent.mkdir(parents=True, exist_ok=True)
    conversation = conversation or Conversation()
    async with AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                           timeout=600) as client:
        model = (await client.models.list()).data[0].id
        gate = asyncio.Semaphore(concurrency)

        async def bounded(i: int, p: teacher.Problem) -> Outcome:
            async with gate:
                return await _ask(client, model, conversation.messages(p, i), p,
                                  extra_body or {}, max_tokens)

        outcomes = await asyncio.gather(*(bounded(i, p) for i, p in enumerate(problems)))
    if dump_path is not None:
        with dump_path.open("w", encoding="utf-8") as out:
            for problem, outcome in zip(problems, outcomes, strict=True):
                row = {"expected": problem.expected, **asdict(outcome)}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return summarise(outcomes)


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    by_task: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_task[o.task].append(o)
    n = len(outcomes)
    both_fields = lambda o: o.has_reasoning and o.has_content  # noqa: E731

    def share(pred: Any, items: list[Outcome]) -> float:
        return round(sum(1 for o in items if pred(o)) / len(items), 4) if items else 0.0

    def by_key(items: list[Outcome]) -> dict[str, list[Outcome]]:
        grouped: dict[str, list[Outcome]] = defaultdict(list)
        for o in items:
            grouped[o.key].append(o)
        return grouped

    def distinct_accuracy(items: list[Outcome]) -> float:
        # Held-out count problems repeat (word, letter) pairs of the few test words:
        # weighting each distinct problem once shows how lumpy a per-task figure is.
        grouped = by_key(items)
        return round(sum(share(lambda o: o.correct, g) for g in grouped.values())
                     / len(grouped), 4) if grouped else 0.0

    return {
        "num_problems": n,
        "accuracy": share(lambda o: o.correct, outcomes),
        "accuracy_by_task": {t: share(lambda o: o.correct, items)
                             for t, items in sorted(by_task.items())},
        "num_distinct_by_task": {t: len(by_key(items)) for t, items in sorted(by_task.items())},
        "accuracy_by_task_distinct": {t: distinct_accuracy(items)
                                      for t, items in sorted(by_task.items())},
        "share_with_reasoning_and_content": share(both_fields, outcomes),
        "share_closed_thinking": share(lambda o: o.closed_thinking, outcomes),
        "share_answer_form": share(lambda o: o.answer_form, outcomes),
        "share_end_marker_in_answer": share(lambda o: o.end_marker_in_answer, outcomes),
        "mean_reasoning_tokens": round(sum(o.num_reasoning_tokens for o in outcomes) / n, 1)
        if n else 0.0,
        "mean_latency_s": round(sum(o.latency_s for o in outcomes) / n, 3) if n else 0.0,
    }
