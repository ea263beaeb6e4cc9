"""Budget forcing end to end: the demo model through the real server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from server.budget import DEFAULT_CLOSE_TEXT
from server.prompts import load_tokenizer
from tests.conftest import API_KEY, REPO, RunningServer
from tests.test_api_http import assert_openai_error, generated_tokens, wait_until_idle

TOKENIZER = load_tokenizer(REPO / "models" / "aha-demo")
BASE = {"model": "aha-demo", "messages": [{"role": "user", "content": "What is 12 + 34?"}],
        "temperature": 0, "max_tokens": 1500}


def chat(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = http.post("/v1/chat/completions", json={**BASE, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


def stream(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {**BASE, **fields, "stream": True, "stream_options": {"include_usage": True}}
    response = http.post("/v1/chat/completions", json=body)
    events = [e[len("data: "):] for e in response.text.split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    reasoning: dict[int, list[str]] = {}
    content: dict[int, str] = {}
    finish: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            i, delta = choice["index"], choice["delta"]
            if "reasoning_content" in delta:
                reasoning.setdefault(i, []).append(delta["reasoning_content"])
            content[i] = content.get(i, "") + delta.get("content", "")
            if choice["finish_reason"]:
                finish[i] = choice["finish_reason"]
    return {"reasoning": reasoning, "content": content, "finish": finish,
            "usage": chunks[-1]["usage"]}


def message(response: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return dict(response["choices"][index]["message"])


def test_minimum_thinking_inserts_wait_and_still_answers(http: httpx.Client) -> None:
    plain = chat(http)
    # A minimum above what the model thinks unforced, whatever that is for this model.
    minimum = plain["usage"]["completion_tokens_details"]["reasoning_tokens"] + 50
    forced = chat(http, budget_forcing={"min_thinking_tokens": minimum, "max_waits": 3})
    usage = forced["usage"]
    text = message(forced)["reasoning_content"]
    assert usage["budget_forcing"]["waits_inserted"] >= 1
    assert text.count("Wait") > message(plain)["reasoning_content"].count("Wait")
    assert (usage["completion_tokens_details"]["reasoning_tokens"] >= minimum
            or usage["budget_forcing"]["waits_inserted"] == 3)
    assert message(forced)["content"].strip()
    assert forced["choices"][0]["finish_reason"] == "stop"
    # The server's own close never leaks into either field. A "</think>" the model
    # itself writes later in its answer is answer text, passed through by design
    # (test_reasoning_splitter.test_end_marker_after_thinking_closed_is_answer_text).
    assert "</think>" not in text and not message(forced)["content"].startswith("</think>")


def test_cap_closes_thinking_gracefully(http: httpx.Client) -> None:
    response = chat(http, budget_forcing={"max_thinking_tokens": 20})
    usage = response["usage"]
    close_ids = TOKENIZER.encode(DEFAULT_CLOSE_TEXT, add_special_tokens=False)
    # Exact accounting: 20 thinking tokens, the close text, the end marker.
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 20 + len(close_ids) + 1
    assert usage["budget_forcing"] == {"waits_inserted": 0, "forced_closes": 1,
                                       "thinking_tokens": 20 + len(close_ids) + 1}
    assert message(response)["reasoning_content"].rstrip().endswith(DEFAULT_CLOSE_TEXT.strip())
    assert message(response)["content"] and response["choices"][0]["finish_reason"] == "stop"
    answer_ids = TOKENIZER.encode(message(response)["content"], add_special_tokens=False)
    # The answer's own tokens, plus the "\n\n" after the marker and the end-of-turn token.
    # Re-encoding the decoded answer need not give back the generated tokens (BPE's
    # canonical split of odd text can be a token or two longer), hence the slack.
    num_answer_tokens = usage["completion_tokens"] - usage["completion_tokens_details"][
        "reasoning_tokens"]
    assert len(answer_ids) - 3 <= num_answer_tokens <= len(answer_ids) + 3


def test_answer_reserve_holds_for_a_small_max_tokens(http: httpx.Client) -> None:
    plain = chat(http, max_tokens=60)
    assert message(plain)["content"] == ""  # thinking alone eats 60 tokens
    reserved = chat(http, max_tokens=60, budget_forcing={"max_thinking_tokens": 1000,
                                                         "answer_tokens": 25})
    assert message(reserved)["content"]
    assert reserved["usage"]["completion_tokens"] <= 60
    assert reserved["usage"]["budget_forcing"]["forced_closes"] == 1


def test_stream_equals_non_stream_under_forcing(http: httpx.Client) -> None:
    for fields in ({"budget_forcing": {"min_thinking_tokens": 300, "wait_text": ["Wait", "Hmm"]}},
                   {"budget_forcing": {"max_thinking_tokens": 30}},
                   {"budget_forcing": {"min_thinking_tokens": 300}, "temperature": 1, "seed": 4}):
        whole = chat(http, **fields)
        parts = stream(http, **fields)
        assert "".join(parts["reasoning"][0]) == message(whole)["reasoning_content"]
        assert parts["content"][0] == message(whole)["content"]
        assert parts["usage"] == whole["usage"]


def test_wait_text_streams_once_as_its_own_delta(http: httpx.Client) -> None:
    parts = stream(http, budget_forcing={"min_thinking_tokens": 300, "wait_text": "Hmm, wait",
                                         "max_waits": 2})
    deltas = parts["reasoning"][0]
    assert deltas.count("Hmm, wait") == parts["usage"]["budget_forcing"]["waits_inserted"] >= 1


def test_each_choice_is_forced_on_its_own(http: httpx.Client) -> None:
    response = chat(http, n=2, temperature=1, seed=21,
                    budget_forcing={"min_thinking_tokens": 1000, "max_waits": 1})
    for i in (0, 1):
        assert "Wait" in message(response, i)["reasoning_content"]
        assert message(response, i)["content"]
    # At most one wait per choice, two in all: each choice was extended on its own.
    assert response["usage"]["budget_forcing"]["waits_inserted"] == 2


def test_vllm_and_effort_names(http: httpx.Client) -> None:
    by_budget = chat(http, thinking_token_budget=20)
    assert by_budget["usage"]["budget_forcing"]["forced_closes"] == 1
    by_effort = chat(http, reasoning_effort="low")  # the session server maps low to 16
    assert by_effort["usage"]["budget_forcing"]["forced_closes"] == 1
    assert by_effort["usage"]["budget_forcing"]["thinking_tokens"] < by_budget["usage"][
        "budget_forcing"]["thinking_tokens"]
    unlimited = chat(http, thinking_token_budget=-1)
    assert "budget_forcing" not in unlimited["usage"]


def test_stop_still_applies(http: httpx.Client) -> None:
    response = chat(http, stop=["write"], budget_forcing={"min_thinking_tokens": 200})
    assert response["choices"][0]["finish_reason"] == "stop"
    assert "write" not in message(response)["reasoning_content"]
    assert message(response)["content"] == ""


@pytest.mark.parametrize(("fields", "words"), [
    ({"budget_forcing": {"min_thinking_tokens": 300, "max_thinking_tokens": 100}},
     "above max_thinking_tokens"),
    ({"max_tokens": 100, "budget_forcing": {"max_thinking_tokens": 50, "answer_tokens": 100}},
     "below max_tokens"),
    ({"max_tokens": 100, "budget_forcing": {"min_thinking_tokens": 90, "answer_tokens": 20}},
     "exceed max_tokens"),
    ({"chat_template_kwargs": {"enable_thinking": False},
      "budget_forcing": {"min_thinking_tokens": 10}}, "thinking is off"),
    ({"budget_forcing": {"min_thinking": 10}}, "budget_forcing.min_thinking"),
    ({"budget_forcing": {"wait_text": ""}}, "budget_forcing.wait_text"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"reasoning_effort": "low", "budget_forcing": {"min_thinking_tokens": 100}},
     "reasoning_effort 'low'"),
    ({"max_tokens": 10, "min_tokens": 20}, "min_tokens"),
])
def test_conflicts_are_400s_that_say_which(http: httpx.Client, fields: dict[str, Any],
                                           words: str) -> None:
    response = http.post("/v1/chat/completions", json={**BASE, **fields})
    error = assert_openai_error(response, 400)
    assert words in error["message"] or words == error["param"], error


def test_disconnect_during_a_continuation_aborts_everything(server: RunningServer,
                                                            http: httpx.Client) -> None:
    before = generated_tokens(http)
    body = {**BASE, "stream": True, "max_tokens": 3000,
            "budget_forcing": {"min_thinking_tokens": 2500, "max_waits": 50}}
    with httpx.stream("POST", f"{server.v1}/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        for line in response.iter_lines():
            if '"Wait"' in line:
                break  # inside a continuation segment
    wait_until_idle(http)
    assert generated_tokens(http) - before < 2500  # no segment went on after the client left


QUESTION = [{"role": "user", "content": "What is 457 + 386?"}]
LONG_WAIT = ("Wait, let me check this again very carefully, step by step, from the very "
             "beginning, column by column, and make sure that nothing at all was missed")


@pytest.mark.parametrize(("fields", "limit", "reserve"), [
    ({"max_tokens": 1, "budget_forcing": {"max_thinking_tokens": 5}}, 1, 0),
    ({"max_tokens": 16, "reasoning_effort": "low"}, 16, 8),
    ({"max_tokens": 48, "budget_forcing": {"answer_tokens": 16}}, 48, 16),
    ({"max_tokens": 300, "budget_forcing": {"min_thinking_tokens": 240, "answer_tokens": 10,
                                            "wait_text": LONG_WAIT}}, 300, 10),
    ({"max_tokens": 60, "budget_forcing": {"min_thinking_tokens": 20, "max_thinking_tokens": 30,
                                           "answer_tokens": 20}}, 60, 20),
])
def test_spliced_text_always_fits_and_the_reserve_holds(
        http: httpx.Client, fields: dict[str, Any], limit: int, reserve: int) -> None:
    whole = chat(http, messages=QUESTION, **fields)
    parts = stream(http, messages=QUESTION, **fields)
    usage = whole["usage"]
    assert parts["usage"] == usage and parts["content"].get(0, "") == message(whole)["content"]
    assert usage["completion_tokens"] <= limit
    num_answer_tokens = usage["completion_tokens"] - usage["completion_tokens_details"][
        "reasoning_tokens"]
    # The answer had its whole reserve: it used it all (length) or ended on its own.
    assert num_answer_tokens >= reserve or whole["choices"][0]["finish_reason"] == "stop"
    if reserve:
        assert message(whole)["content"] and usage["budget_forcing"]["forced_closes"] <= 1
    assert "</think>" not in message(whole)["content"] + message(whole)["reasoning_content"]


def test_a_cap_that_never_binds_changes_nothing(http: httpx.Client) -> None:
    fields = {"messages": QUESTION, "seed": 1, "min_tokens": 300, "temperature": 1}
    plain = chat(http, **fields)
    capped = chat(http, **fields, budget_forcing={"max_thinking_tokens": 1000})
    assert capped["usage"]["budget_forcing"] == {
        "waits_inserted": 0, "forced_closes": 0,
        "thinking_tokens": plain["usage"]["completion_tokens_details"]["reasoning_tokens"]}
    assert message(capped) == message(plain)
    assert capped["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"] >= 300
    streamed = stream(http, **fields, thinking_token_budget=1000)
    assert "".join(streamed["reasoning"][0]) == message(plain)["reasoning_content"]
    assert streamed["content"][0] == message(plain)["content"]


def test_a_user_stop_on_the_end_marker_is_the_same_with_a_budget(http: httpx.Client) -> None:
    plain = chat(http, messages=QUESTION, stop=["</think>"])
    assert plain["choices"][0]["finish_reason"] == "stop" and message(plain)["content"] == ""
    for budget in ({"min_thinking_tokens": 100}, {"max_thinking_tokens": 1000}):
        forced = chat(http, messages=QUESTION, stop=["</think>"], budget_forcing=budget)
        assert message(forced) == message(plain), budget
        assert forced["choices"][0]["finish_reason"] == "stop"
        assert forced["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"]


def test_unlimited_lifts_the_effort_cap(http: httpx.Client) -> None:
    response = chat(http, messages=QUESTION, thinking_token_budget=-1, reasoning_effort="low",
                    budget_forcing={"min_thinking_tokens": 100})
    assert response["usage"]["budget_forcing"]["forced_closes"] == 0  # low would cap at 16
    assert response["usage"]["completion_tokens_details"]["reasoning_tokens"] > 16


def test_a_zero_budget_means_no_thinking(http: httpx.Client) -> None:
    # The demo template has an enable_thinking switch: a budget of 0 turns thinking off.
    response = chat(http, messages=QUESTION, thinking_token_budget=0)
    assert response["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert message(response)["content"] and not message(response).get("reasoning_content")
    parts = stream(http, messages=QUESTION, thinking_token_budget=0)
    assert not parts["reasoning"] and parts["content"][0] == message(response)["content"]
