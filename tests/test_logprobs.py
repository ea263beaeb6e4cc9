"""Logprobs on chat (answer and, as an extension, thinking) and on completions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from openai import OpenAI

from server.prompts import load_tokenizer
from tests.conftest import API_KEY, REPO, RunningServer

QUESTION = [{"role": "user", "content": "What is 457 + 386?"}]
MODEL_DIR = REPO / "models" / "aha-demo"

# vLLM's own engine, offline, on the same prompt ids: what our logprobs must equal.
ENGINE_SCRIPT = REPO / "tests" / "fixtures" / "vllm_logprobs.py"


@pytest.fixture(scope="module")
def client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, timeout=120)


def test_chat_logprobs_parse_and_cover_answer_and_thinking(client: OpenAI) -> None:
    response = client.chat.completions.create(model="aha-demo", messages=QUESTION,  # type: ignore[arg-type]
                                              temperature=0, logprobs=True, top_logprobs=3)
    choice = response.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    content = choice.logprobs.content
    # The answer's leading blank line is a token but not part of `content`.
    assert "".join(t.token for t in content).strip() == (choice.message.content or "").strip()
    for entry in content:
        tops = [t.logprob for t in entry.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True)
        assert entry.logprob <= tops[0] + 1e-6 and entry.bytes == list(entry.token.encode())
    thinking = (choice.logprobs.model_extra or {})["reasoning_content"]
    reasoning_text = (choice.message.model_extra or {})["reasoning_content"]
    assert "".join(t["token"] for t in thinking).strip() == reasoning_text.strip()
    assert response.usage is not None
    # Every completion token is listed once, but for the end marker and the EOS.
    assert len(thinking) + len(content) == response.usage.completion_tokens - 2


def test_chosen_logprobs_equal_vllms_own_engine(client: OpenAI) -> None:
    response = client.chat.completions.create(model="aha-demo", messages=QUESTION,  # type: ignore[arg-type]
                                              temperature=0, logprobs=True, max_tokens=60)
    choice = response.choices[0]
    assert choice.logprobs is not None
    ours = [t["logprob"] for t in (choice.logprobs.model_extra or {})["reasoning_content"]]
    tokenizer = load_tokenizer(MODEL_DIR)
    prompt = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True,
                                           tokenize=False)
    prompt_ids = tokenizer(str(prompt), add_special_tokens=False)["input_ids"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    run = subprocess.run([sys.executable, str(ENGINE_SCRIPT), json.dumps(list(prompt_ids)),
                          "60", str(MODEL_DIR)], capture_output=True, text=True, env=env,
                         timeout=900, cwd=REPO)
    lines = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, run.stderr[-3000:]
    line = lines[0]
    theirs = [lp for _, lp in json.loads(line[len("RESULT "):])]
    assert len(ours) == 60 and len(theirs) == 60
    # The same engine code on the same ids; bf16 sums may differ with batch shape.
    assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 0.05


def test_spliced_tokens_carry_no_logprobs(client: OpenAI) -> None:
    response = client.chat.completions.create(
        model="aha-demo", messages=QUESTION, temperature=0, logprobs=True,  # type: ignore[arg-type]
        max_tokens=1000, extra_body={"budget_forcing": {"min_thinking_tokens": 400,
                                                        "max_waits": 1}})
    choice = response.choices[0]
    assert choice.logprobs is not None and response.usage is not None
    thinking = (choice.logprobs.model_extra or {})["reasoning_content"]
    forcing: dict[str, Any] = (response.usage.model_extra or {})["budget_forcing"]
    assert forcing["waits_inserted"] == 1
    # Spliced: the wait ("Wait", one token) and the end marker; the EOS stops it.
    assert len(thinking) + len(choice.logprobs.content or []) == \
        response.usage.completion_tokens - 1 - 1 - 1


def test_streamed_logprobs_add_up_to_the_whole(client: OpenAI) -> None:
    whole = client.chat.completions.create(model="aha-demo", messages=QUESTION,  # type: ignore[arg-type]
                                           temperature=0, logprobs=True, top_logprobs=2)
    chunks = client.chat.completions.create(model="aha-demo", messages=QUESTION,  # type: ignore[arg-type]
                                            temperature=0, logprobs=True, top_logprobs=2,
                                            stream=True)
    content: list[Any] = []
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].logprobs and chunk.choices[0].logprobs.content:
            content += chunk.choices[0].logprobs.content
    assert whole.choices[0].logprobs is not None
    assert [t.model_dump() for t in content] == \
        [t.model_dump() for t in whole.choices[0].logprobs.content or []]


def test_completions_logprobs_are_the_legacy_format(client: OpenAI) -> None:
    response = client.completions.create(model="aha-demo", prompt="What is 2 + 3?",
                                         max_tokens=12, temperature=0, logprobs=2)
    logprobs = response.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens and logprobs.token_logprobs
    assert logprobs.top_logprobs and logprobs.text_offset is not None
    n = len(logprobs.tokens)
    assert len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == n
    assert "".join(logprobs.tokens) == response.choices[0].text[:len("".join(logprobs.tokens))]
    assert logprobs.text_offset == sorted(logprobs.text_offset)
    assert all(len(top) >= 2 for top in logprobs.top_logprobs)


@pytest.mark.parametrize(("body", "param"), [
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
])
def test_bad_logprobs_requests_are_a_400(http: httpx.Client, body: dict[str, Any],
                                         param: str) -> None:
    response = http.post("/v1/chat/completions", json={"messages": QUESTION, **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
