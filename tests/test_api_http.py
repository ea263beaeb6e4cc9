"""Raw HTTP: SSE framing, error bodies, auth and disconnects, with httpx and curl."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.conftest import API_KEY, RunningServer

CHAT = {"model": "aha-demo", "messages": [{"role": "user", "content": "What is 12 + 34?"}],
        "temperature": 0, "max_tokens": 400}


def sse_events(body: str) -> list[str]:
    assert "\r" not in body, "SSE lines end with \\n only"
    return [e for e in body.split("\n\n") if e]


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> dict[
        str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param
    return dict(error)


def test_cpu_server_sizes_its_own_kv_cache(server: RunningServer) -> None:
    # The shared server runs without VLLM_CPU_KVCACHE_SPACE, as `make serve` does:
    # vLLM's own CPU default (90% of the NUMA node, checked free at start-up) had made
    # `make serve` fail on a machine whose node held 10.8 GiB with 9.55 GiB free.
    log = server.log()
    assert "CPU KV cache: 2 GiB" in log
    assert "Explicitly set (2.0/" in log


def test_stream_framing(http: httpx.Client) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}, "n": 2, "seed": 3}
    response = http.post("/v1/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in sse_events(response.text) if not e.startswith(":")]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    first = chunks[0]
    assert first["object"] == "chat.completion.chunk" and first["id"].startswith("chatcmpl-")
    assert first["system_fingerprint"] and first["model"] == "aha-demo"
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert len({c["id"] for c in chunks}) == 1
    finishes = [ch["index"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert sorted(finishes) == [0, 1]
    roles = [ch["index"] for c in chunks for ch in c["choices"] if "role" in ch["delta"]]
    assert sorted(roles) == [0, 1]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_curl_stream_shows_reasoning_done_and_usage(server: RunningServer) -> None:
    out = subprocess.run(
        ["curl", "-sN", f"{server.v1}/chat/completions", "-H", "Content-Type: application/json",
         "-H", f"Authorization: Bearer {API_KEY}",
         "-d", json.dumps({**CHAT, "stream": True, "stream_options": {"include_usage": True}})],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert '"reasoning_content"' in out and '"content"' in out
    assert '"usage"' in out and out.rstrip().endswith("data: [DONE]")


def test_keepalive_comments_during_long_streams(server: RunningServer) -> None:
    # The session server pings every 0.3 s; a 1,500-token stream outlasts that.
    body = {**CHAT, "stream": True, "ignore_eos": True, "max_tokens": 1500}
    with httpx.stream("POST", f"{server.v1}/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        text = "".join(response.iter_text())
    assert any(e.startswith(": ping") for e in sse_events(text))


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/models"),
                                              ("POST", "/v1/chat/completions"),
                                              ("POST", "/v1/completions")])
def test_every_v1_route_needs_the_key(server: RunningServer, method: str, path: str) -> None:
    missing = httpx.request(method, server.base_url + path, json=CHAT)
    assert_openai_error(missing, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.request(method, server.base_url + path, json=CHAT,
                          headers={"Authorization": "Bearer nope"})
    assert_openai_error(wrong, 401)


def test_health_is_open(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_malformed_json(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", content=b'{"messages": [',
                         headers={"content-type": "application/json"})
    assert "JSON" in assert_openai_error(response, 400)["message"]


@pytest.mark.parametrize(("patch", "param"), [
    ({"temperature": 5}, "temperature"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
    ({"n": 0}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"logit_bias": {"abc": 1}}, "logit_bias"),
])
def test_failed_validation_names_the_field(http: httpx.Client, patch: dict[str, Any],
                                           param: str) -> None:
    response = http.post("/v1/chat/completions", json={**CHAT, **patch})
    assert_openai_error(response, 400, param)


@pytest.mark.parametrize("patch", [
    {"tools": [{"type": "function", "function": {"name": "f"}}]},
    {"tool_choice": "auto"},
    {"functions": [{"name": "f"}]},
    {"function_call": "auto"},
])
def test_unsupported_fields_are_rejected(http: httpx.Client, patch: dict[str, Any]) -> None:
    response = http.post("/v1/chat/completions", json={**CHAT, **patch})
    error = assert_openai_error(response, 400, next(iter(patch)))
    assert "not supported" in error["message"]


def test_prompt_longer_than_context(http: httpx.Client) -> None:
    long = {**CHAT, "messages": [{"role": "user", "content": "add 1 and 2 " * 2000}]}
    error = assert_openai_error(http.post("/v1/chat/completions", json=long), 400)
    assert error["code"] == "context_length_exceeded"
    numbers = [int(w) for w in error["message"].split() if w.isdigit()]
    assert len(numbers) == 2 and numbers[0] > numbers[1]


def test_max_tokens_beyond_context(http: httpx.Client) -> None:
    error = assert_openai_error(
        http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 10**6}), 400, "max_tokens")
    assert "1000000" in error["message"] and "context" in error["message"]


def test_unknown_model_and_route(http: httpx.Client) -> None:
    error = assert_openai_error(http.post("/v1/chat/completions",
                                          json={**CHAT, "model": "gpt-9"}), 404, "model")
    assert error["code"] == "model_not_found"
    assert_openai_error(http.get("/v1/nothing-here"), 404)
    assert_openai_error(http.get("/v1/chat/completions"), 405)


def wait_until_idle(http: httpx.Client, timeout_s: float = 60) -> None:
    """Waits for the engine to empty; the timeout is only for a hang, never a speed test."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if http.get("/health").json()["requests_in_flight"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the engine still has requests running")


def generated_tokens(http: httpx.Client) -> float:
    """vLLM's count of tokens generated so far (all requests)."""
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("vllm:generation_tokens_total{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("vllm:generation_tokens_total is missing")


def test_dropped_stream_aborts_the_engine_request(server: RunningServer,
                                                  http: httpx.Client) -> None:
    before = generated_tokens(http)
    body = {**CHAT, "stream": True, "ignore_eos": True, "max_tokens": 3000}
    with httpx.stream("POST", f"{server.v1}/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        assert http.get("/health").json()["requests_in_flight"] == 1
    wait_until_idle(http)
    # Aborted, not finished: far fewer than the 3,000 tokens asked for were generated.
    assert generated_tokens(http) - before < 3000


def test_dropped_non_stream_request_aborts_too(server: RunningServer, http: httpx.Client) -> None:
    before = generated_tokens(http)
    body = {**CHAT, "ignore_eos": True, "max_tokens": 3000}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.v1}/chat/completions", json=body, timeout=0.5,
                   headers={"Authorization": f"Bearer {API_KEY}"})
    wait_until_idle(http)
    assert generated_tokens(http) - before < 3000


def test_errors_never_take_the_server_down(http: httpx.Client) -> None:
    for _ in range(3):
        http.post("/v1/chat/completions", content=b"nonsense")
    response = http.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"]
