"""POST /v1/responses through the OpenAI SDK and raw SSE, validated as the SDK's types."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from openai import OpenAI
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.conftest import API_KEY, RunningServer
from tests.test_api_http import generated_tokens, wait_until_idle
from tests.test_metrics import M, delta, scrape

QUESTION = "What is 457 + 386?"
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, timeout=120)


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(SSE event name, data) pairs of a Responses stream; no other line is allowed."""
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            assert name is not None, line
            events.append((name, json.loads(line[len("data: "):])))
            name = None
        else:
            assert line == "" or line.startswith(":"), line  # blank or keep-alive comment
    return events


def stream(http: httpx.Client, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response)


def test_sdk_create_gives_a_reasoning_item_then_a_message(client: OpenAI) -> None:
    raw = client.responses.with_raw_response.create(model="aha-demo", input=QUESTION,
                                                    temperature=0, metadata={"run": "t1"})
    Response.model_validate(raw.http_response.json())  # the body itself, strictly
    response = raw.parse()
    assert response.status == "completed" and response.metadata == {"run": "t1"}
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and message.type == "message"
    assert reasoning.content and "457" in reasoning.content[0].text
    assert "843" in response.output_text and "</think>" not in response.output_text
    usage = response.usage
    assert usage is not None and 0 < usage.output_tokens_details.reasoning_tokens \
        < usage.output_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_usage_and_text_match_the_same_chat_request(client: OpenAI) -> None:
    response = client.responses.create(model="aha-demo", input=QUESTION, temperature=0)
    chat = client.chat.completions.create(
        model="aha-demo", messages=[{"role": "user", "content": QUESTION}], temperature=0)
    assert response.output_text == chat.choices[0].message.content
    assert response.usage is not None and chat.usage is not None
    assert response.usage.input_tokens == chat.usage.prompt_tokens
    assert response.usage.output_tokens == chat.usage.completion_tokens
    assert response.usage.output_tokens_details.reasoning_tokens == \
        chat.usage.completion_tokens_details.reasoning_tokens  # type: ignore[union-attr]


def test_stream_events_validate_and_come_in_the_api_order(http: httpx.Client) -> None:
    events = stream(http, {"input": QUESTION, "temperature": 0})
    for name, data in events:
        assert EVENTS.validate_python(data).type == name == data["type"]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    names = [name for name, _ in events]
    collapsed = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    assert collapsed == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.reasoning_text.delta", "response.reasoning_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.completed"]
    final = Response.model_validate(events[-1][1]["response"])
    thinking = "".join(d["delta"] for n, d in events if n == "response.reasoning_text.delta")
    answer = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert final.output[0].content[0].text == thinking  # type: ignore[union-attr]
    assert final.output_text == answer and "843" in answer


def test_sdk_stream_helper_reads_it(client: OpenAI) -> None:
    with client.responses.stream(model="aha-demo", input=QUESTION, temperature=0) as events:
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        final = events.get_final_response()
    assert "".join(deltas) == final.output_text and "843" in final.output_text


def test_running_out_of_output_tokens_is_incomplete(http: httpx.Client, client: OpenAI) -> None:
    response = client.responses.create(model="aha-demo", input=QUESTION, max_output_tokens=20)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 20
    events = stream(http, {"input": QUESTION, "max_output_tokens": 20})
    assert events[-1][0] == "response.incomplete"
    assert events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_unset_sampling_fields_echo_the_values_used(http: httpx.Client, client: OpenAI) -> None:
    defaults = http.get("/v1/models").json()["data"][0]["sampling_defaults"]
    unset = client.responses.create(model="aha-demo", input=QUESTION, max_output_tokens=8)
    assert (unset.temperature, unset.top_p) == (defaults["temperature"], defaults["top_p"])
    asked = client.responses.create(model="aha-demo", input=QUESTION, max_output_tokens=8,
                                    temperature=0.5, top_p=0.9)
    assert (asked.temperature, asked.top_p) == (0.5, 0.9)


@pytest.mark.parametrize(("responses_fields", "chat_fields"), [
    ({"extra_body": {"budget_forcing": {"max_thinking_tokens": 16}}},
     {"extra_body": {"budget_forcing": {"max_thinking_tokens": 16}}}),
    ({"reasoning": {"effort": "low"}}, {"reasoning_effort": "low"}),  # 16 tokens here
    ({"reasoning": {"effort": "none"}}, {"extra_body": {"thinking_token_budget": 0}}),
])
def test_budgets_and_efforts_act_as_on_chat(client: OpenAI, responses_fields: dict[str, Any],
                                            chat_fields: dict[str, Any]) -> None:
    response = client.responses.create(model="aha-demo", input=QUESTION, temperature=0,
                                       **responses_fields)
    chat = client.chat.completions.create(
        model="aha-demo", messages=[{"role": "user", "content": QUESTION}], temperature=0,
        **chat_fields)
    assert response.usage is not None and chat.usage is not None
    assert response.output_text == chat.choices[0].message.content
    assert response.usage.output_tokens == chat.usage.completion_tokens
    reasoning_tokens = response.usage.output_tokens_details.reasoning_tokens
    assert reasoning_tokens == chat.usage.completion_tokens_details.reasoning_tokens  # type: ignore[union-attr]
    assert reasoning_tokens < 60  # capped: unforced thinking takes over 100 tokens


def test_message_items_and_instructions_are_accepted(client: OpenAI) -> None:
    response = client.responses.create(model="aha-demo", instructions="Be brief.", input=[
        {"role": "user", "content": "What is 12 + 34?"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "12 + 34 = 46."}]},
        {"type": "reasoning", "id": "rs_1", "summary": [],
         "content": [{"type": "reasoning_text", "text": "old thinking"}]},
        {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
        temperature=0)
    assert "843" in response.output_text


@pytest.mark.parametrize(("body", "param"), [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"tools": [{"type": "function", "name": "f", "parameters": {}}]}, "tools"),
    ({"background": True}, "background"),
    ({"include": ["message.output_text.logprobs"]}, "include"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}, "input"),
    ({"input": ""}, "input"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text"),
])
def test_unsupported_or_bad_fields_are_a_400_naming_them(http: httpx.Client,
                                                         body: dict[str, Any],
                                                         param: str) -> None:
    response = http.post("/v1/responses", json={"input": QUESTION, **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] is not None and error["param"].startswith(param), error


def test_metrics_count_responses_and_a_dropped_stream_aborts(server: RunningServer,
                                                             http: httpx.Client) -> None:
    before, tokens_before = scrape(server), generated_tokens(http)
    assert http.post("/v1/responses", json={"input": QUESTION}).status_code == 200
    body = {"input": QUESTION, "stream": True, "max_output_tokens": 3000,
            "budget_forcing": {"min_thinking_tokens": 2900, "max_waits": 100}}
    with http.stream("POST", "/v1/responses", json=body) as response:
        for line in response.iter_lines():
            if "reasoning_text.delta" in line:
                break  # the client leaves mid-thinking
    wait_until_idle(http)
    time.sleep(0.2)  # the aborted stream's bookkeeping runs just after the engine empties
    after = scrape(server)
    ok = f'endpoint="responses",{M},outcome="ok",stream="false"'
    assert delta(before, after, f"aha_requests_total{{{ok}}}") == 1
    aborted = f'endpoint="responses",{M},outcome="aborted",stream="true"'
    assert delta(before, after, f"aha_requests_total{{{aborted}}}") == 1
    assert generated_tokens(http) - tokens_before < 3000


def test_a_failure_mid_stream_ends_with_response_failed() -> None:
    """The encoder alone, fed as a RequestRun feeds it when the engine dies mid-answer."""
    from server.generation import ChoiceEvent
    from server.protocol import ResponsesRequest
    from server.responses import ResponsesEncoder

    encoder = ResponsesEncoder("resp_1", "aha-demo", ResponsesRequest(input=QUESTION),
                               {"temperature": 0.0, "top_p": 1.0})
    raw = encoder.opening() + b"".join(
        encoder.chunks(ChoiceEvent(0, reasoning="I add.")) +
        encoder.chunks(ChoiceEvent(0, content="84")))
    raw += encoder.failure(RuntimeError("the engine has stopped"))
    events = [json.loads(line[len("data: "):]) for line in raw.decode().splitlines()
              if line.startswith("data: ")]
    for data in events:
        EVENTS.validate_python(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    failed = Response.model_validate(events[-1]["response"])
    assert events[-1]["type"] == "response.failed" and failed.status == "failed"
    assert failed.error is not None and failed.error.code == "server_error"
