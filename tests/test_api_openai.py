"""The OpenAI SDK (sync, async, streaming) against the real server and demo model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from server.prompts import load_tokenizer
from tests.conftest import API_KEY, REPO, RunningServer

TOKENIZER = load_tokenizer(REPO / "models" / "aha-demo")

QUESTION = "What is 12 + 34?"


@pytest.fixture
def client(server: RunningServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, timeout=60) as c:
        yield c


def ask(client: OpenAI, question: str = QUESTION, **kwargs: Any) -> Any:
    kwargs.setdefault("temperature", 0)
    kwargs.setdefault("max_tokens", 400)
    return client.chat.completions.create(
        model="aha-demo", messages=[{"role": "user", "content": question}], **kwargs)


def stream_parts(client: OpenAI, question: str = QUESTION, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("temperature", 0)
    kwargs.setdefault("max_tokens", 400)
    stream = client.chat.completions.create(
        model="aha-demo", messages=[{"role": "user", "content": question}], stream=True,
        stream_options={"include_usage": True}, **kwargs)
    out: dict[str, Any] = {"reasoning": {}, "content": {}, "finish": {}, "usage": None,
                           "chunks": []}
    for chunk in stream:
        out["chunks"].append(chunk)
        if chunk.usage is not None:
            out["usage"] = chunk.usage
        for choice in chunk.choices:
            i = choice.index
            delta = choice.delta
            out["reasoning"][i] = out["reasoning"].get(i, "") + (
                getattr(delta, "reasoning_content", None) or "")
            out["content"][i] = out["content"].get(i, "") + (delta.content or "")
            if choice.finish_reason:
                assert i not in out["finish"], "one finish_reason per choice"
                out["finish"][i] = choice.finish_reason
    return out


def test_models_lists_the_served_model(client: OpenAI) -> None:
    (model,) = client.models.list().data
    assert model.id == "aha-demo"
    extra = model.model_extra or {}
    assert extra["root"].endswith("models/aha-demo")
    assert extra["max_model_len"] >= 1024
    # The demo's generation_config.json makes decoding greedy unless a request asks.
    assert extra["sampling_defaults"]["temperature"] == 0
    assert extra["sampling_defaults"]["top_p"] == 1


def test_unset_temperature_takes_the_models_greedy_default(client: OpenAI) -> None:
    # At temperature 1 eight choices do not all agree: 16 gave 4 different thinkings.
    unset = client.chat.completions.create(
        model="aha-demo", messages=[{"role": "user", "content": QUESTION}], n=8, seed=3,
        max_tokens=400)
    greedy = ask(client)
    def said(choice: Any) -> tuple[str, str]:
        return choice.message.model_extra["reasoning_content"], choice.message.content

    assert {said(c) for c in unset.choices} == {said(greedy.choices[0])}
    sampled = ask(client, n=8, seed=3, temperature=1.0)
    assert len({said(c) for c in sampled.choices}) > 1


def test_non_stream_separates_thinking_and_answer(client: OpenAI) -> None:
    response = ask(client)
    message = response.choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning_content"].startswith("I need to add")
    assert extra["reasoning"] == extra["reasoning_content"]
    assert message.content.strip()
    assert "</think>" not in message.content + extra["reasoning_content"]
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    reasoning_tokens = usage.completion_tokens_details.reasoning_tokens
    assert 0 < reasoning_tokens < usage.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_equals_non_stream(client: OpenAI) -> None:
    whole = ask(client)
    parts = stream_parts(client)
    message = whole.choices[0].message
    assert parts["reasoning"][0] == message.model_extra["reasoning_content"]
    assert parts["content"][0] == message.content
    assert parts["finish"] == {0: "stop"}
    assert parts["usage"].completion_tokens == whole.usage.completion_tokens
    assert (parts["usage"].completion_tokens_details.reasoning_tokens
            == whole.usage.completion_tokens_details.reasoning_tokens)
    assert parts["chunks"][-1].choices == []
    assert parts["chunks"][0].choices[0].delta.role == "assistant"


def test_async_clients_stream_concurrently(server: RunningServer) -> None:
    questions = ["What is 12 + 34?", "What is 50 - 8?", "How many r's are in strawberry?",
                 "Which is larger, 9.11 or 9.9?"]

    async def one(client: AsyncOpenAI, question: str) -> str:
        stream = await client.chat.completions.create(
            model="aha-demo", messages=[{"role": "user", "content": question}],
            stream=True, temperature=0, max_tokens=400)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def main() -> list[str]:
        async with AsyncOpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0) as client:
            return await asyncio.gather(*(one(client, q) for q in questions))

    answers = asyncio.run(main())
    assert all(answer.strip() for answer in answers), answers


def test_n_choices_each_finish_once(client: OpenAI) -> None:
    parts = stream_parts(client, n=3, temperature=1.0, seed=11)
    assert set(parts["finish"]) == {0, 1, 2}
    assert all(parts["reasoning"][i] for i in range(3))
    whole = ask(client, n=3, temperature=1.0, seed=11)
    assert [c.index for c in whole.choices] == [0, 1, 2]
    assert [c.message.content for c in whole.choices] == [parts["content"][i] for i in range(3)]


def test_seed_makes_sampling_repeatable(client: OpenAI) -> None:
    first = ask(client, temperature=1.0, seed=5, max_tokens=60)
    second = ask(client, temperature=1.0, seed=5, max_tokens=60)
    assert first.choices[0].message.model_extra == second.choices[0].message.model_extra


def test_include_reasoning_false_drops_thinking(client: OpenAI) -> None:
    response = ask(client, extra_body={"include_reasoning": False})
    message = response.choices[0].message
    assert "reasoning_content" not in (message.model_extra or {})
    assert message.content == ask(client).choices[0].message.content
    parts = stream_parts(client, extra_body={"include_reasoning": False})
    assert parts["reasoning"][0] == "" and parts["content"][0] == message.content


def test_reasoning_in_history_is_not_sent_to_the_model(client: OpenAI) -> None:
    def follow_up(assistant: dict[str, str]) -> Any:
        return client.chat.completions.create(
            model="aha-demo", temperature=0, max_tokens=300,
            messages=[{"role": "user", "content": "What is 12 + 34?"}, assistant,
                      {"role": "user", "content": "What is 20 + 5?"}])

    plain = follow_up({"role": "assistant", "content": "12 + 34 = 46."})
    with_fields = follow_up({"role": "assistant", "content": "12 + 34 = 46.",
                             "reasoning_content": "LONG THOUGHTS " * 50,
                             "reasoning": "LONG THOUGHTS " * 50})  # type: ignore[typeddict-unknown-key]
    inline = follow_up({"role": "assistant",
                        "content": "<think>\nLONG THOUGHTS\n</think>\n\n12 + 34 = 46."})
    assert plain.usage.prompt_tokens == with_fields.usage.prompt_tokens
    assert plain.usage.prompt_tokens == inline.usage.prompt_tokens
    assert plain.choices[0].message.content == with_fields.choices[0].message.content


def test_chat_template_kwargs_reach_the_template(client: OpenAI) -> None:
    response = ask(client, extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert response.usage.completion_tokens_details.reasoning_tokens == 0
    assert response.choices[0].message.model_extra["reasoning_content"] == ""
    assert response.choices[0].message.content


def test_thinking_cut_by_max_tokens_is_all_reasoning(client: OpenAI) -> None:
    parts = stream_parts(client, max_tokens=8)
    assert parts["finish"] == {0: "length"}
    assert parts["content"][0] == "" and parts["reasoning"][0]
    assert parts["usage"].completion_tokens == 8
    assert parts["usage"].completion_tokens_details.reasoning_tokens == 8


def test_stop_string_ends_output(client: OpenAI) -> None:
    response = ask(client, stop=["write"])
    text = response.choices[0].message.model_extra["reasoning_content"]
    assert response.choices[0].finish_reason == "stop"
    assert "write" not in text and text.startswith("I need to add")


def test_stop_token_ids_and_logit_bias_pass_through(client: OpenAI) -> None:
    end_id = int(TOKENIZER.convert_tokens_to_ids("</think>"))
    stopped = ask(client, extra_body={"stop_token_ids": [end_id]})
    assert stopped.choices[0].message.content == ""
    assert stopped.choices[0].finish_reason == "stop"
    banned = ask(client, max_tokens=120, logit_bias={str(end_id): -100})
    assert banned.choices[0].message.content == ""
    assert banned.usage.completion_tokens_details.reasoning_tokens == 120


def test_ignore_eos_and_min_tokens(client: OpenAI) -> None:
    forced = ask(client, "Hello", max_tokens=150, extra_body={"ignore_eos": True})
    assert forced.usage.completion_tokens == 150
    assert forced.choices[0].finish_reason == "length"
    short = ask(client, "Hello")
    at_least = ask(client, "Hello", extra_body={"min_tokens": short.usage.completion_tokens + 20})
    assert at_least.usage.completion_tokens >= short.usage.completion_tokens + 20


def test_completions_endpoint(client: OpenAI) -> None:
    prompt = "<|im_start|>user\nWhat is 12 + 34?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    whole = client.completions.create(model="aha-demo", prompt=prompt, max_tokens=300,
                                      temperature=0)
    assert "</think>" in whole.choices[0].text and whole.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model="aha-demo", prompt=prompt, max_tokens=300,
                                         temperature=0, stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
