"""client_examples/ run as a user would, against the session server."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import API_KEY, REPO, RunningServer


def test_chat_keeps_answers_and_drops_thinking(server: RunningServer) -> None:
    result = subprocess.run(
        [sys.executable, "client_examples/chat.py", "--base-url", server.v1, "--api-key", API_KEY,
         "--temperature", "0"],
        input="What is 12 + 34?\nWhat is 50 - 8?\nbye\n", capture_output=True, text=True,
        cwd=REPO, timeout=120, check=True)
    out = result.stdout
    assert out.count("=== Thinking ===") == 2
    assert out.count("=== Final Answer ===") == 2
    first_answer = out.split("=== Final Answer ===")[1].split("You:")[0]
    second_answer = out.split("=== Final Answer ===")[2]
    assert first_answer.strip() and second_answer.strip()


def _chat_answers(server: RunningServer, questions: list[str], *flags: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "client_examples/chat.py", "--base-url", server.v1, "--api-key", API_KEY,
         "--temperature", "0", *flags],
        input="\n".join([*questions, "bye"]) + "\n", capture_output=True, text=True,
        cwd=REPO, timeout=120, check=True)
    return [part.split("You:")[0].strip()
            for part in result.stdout.split("=== Final Answer ===")[1:]]


def test_chat_single_turn_asks_each_question_afresh(server: RunningServer) -> None:
    alone = _chat_answers(server, ["What is 50 - 8?"])
    both = _chat_answers(server, ["What is 12 + 34?", "What is 50 - 8?"], "--single-turn")
    assert len(both) == 2 and all(both)
    # At temperature 0 the second answer is the one it gets with no history at all.
    assert both[1] == alone[0], (both, alone)


def test_stream_sh(server: RunningServer) -> None:
    env = {**os.environ, "BASE_URL": server.base_url, "API_KEY": API_KEY}
    out = subprocess.run(["bash", "client_examples/stream.sh", "What is 12 + 34?"], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
    assert '"reasoning_content"' in out and '"usage"' in out and "data: [DONE]" in out


def test_concurrent(server: RunningServer) -> None:
    out = subprocess.run(
        [sys.executable, "client_examples/concurrent_streams.py", "--n", "4",
         "--base-url", server.v1, "--api-key", API_KEY],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "4 streams" in out and " 0 completion tokens" not in out


def test_chat_keeps_a_system_prompt_and_the_history(server: RunningServer) -> None:
    """The write-up's client pattern: a system prompt and the whole conversation, each
    answer printed after the thinking; three right answers in a row."""
    answers = _chat_answers(server, ["What is 457 + 386?", "How many r's are in strawberry?",
                                     "Which is larger, 9.11 or 9.9?"],
                            "--system", "You are a helpful assistant.")
    assert len(answers) == 3, answers
    assert "843" in answers[0] and "3" in answers[1] and answers[2].startswith("9.9 "), answers


def test_responses_stream_example(server: RunningServer) -> None:
    out = subprocess.run(
        [sys.executable, "client_examples/responses_stream.py", "What is 457 + 386?",
         "--base-url", server.v1, "--api-key", API_KEY],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "=== reasoning ===" in out and "=== message ===" in out
    assert "843" in out.split("=== message ===")[1] and "[completed:" in out


def test_structured_example(server: RunningServer) -> None:
    out = subprocess.run(
        [sys.executable, "client_examples/structured.py", "What is 12 + 34?",
         "--max-thinking-tokens", "64", "--base-url", server.v1, "--api-key", API_KEY],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "=== Thinking ===" in out and "parsed: {'answer':" in out
