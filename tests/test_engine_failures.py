"""A second server: think markers switched off, then its engine killed mid-stream."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.conftest import RunningServer, start_server, stop_server
from tests.test_api_http import assert_openai_error

# Room for the whole trace and the answer: the demo model thinks about 200 tokens here.
BODY = {"messages": [{"role": "user", "content": "What is 457 + 386?"}], "temperature": 0,
        "max_tokens": 400}


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("plain") / "server.log"
    # Also the server with the playground switched off (one server, two settings).
    running = start_server(["--think-start", "", "--think-end", "", "--no-playground"],
                           log_path)
    yield running
    stop_server(running)


def test_without_markers_everything_is_content(plain_server: RunningServer) -> None:
    response = httpx.post(f"{plain_server.v1}/chat/completions", json=BODY, timeout=60).json()
    message = response["choices"][0]["message"]
    assert "reasoning_content" not in message and "</think>" in message["content"]
    assert response["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


def test_budget_on_a_model_without_markers_is_a_400(plain_server: RunningServer) -> None:
    response = httpx.post(f"{plain_server.v1}/chat/completions", timeout=60,
                          json={**BODY, "budget_forcing": {"max_thinking_tokens": 10}})
    assert "no think markers" in assert_openai_error(response, 400, "budget_forcing")["message"]


def test_no_playground_serves_no_page(plain_server: RunningServer) -> None:
    for path in ("/", "/playground", "/playground/assets/playground.js"):
        assert_openai_error(httpx.get(f"{plain_server.base_url}{path}", timeout=30), 404)


def engine_core(server: RunningServer) -> psutil.Process:
    children = psutil.Process(server.process.pid).children(recursive=True)
    for child in children:
        if "EngineCore" in " ".join(child.cmdline()) or "EngineCore" in child.name():
            return child
    raise AssertionError(f"no EngineCore among {[c.name() for c in children]}")


def test_dead_engine_gives_an_error_event_then_503s(plain_server: RunningServer) -> None:
    body = {**BODY, "stream": True, "ignore_eos": True, "max_tokens": 3000}
    with httpx.stream("POST", f"{plain_server.v1}/chat/completions", json=body,
                      timeout=60) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        engine_core(plain_server).send_signal(signal.SIGKILL)
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"
    error = json.loads(rest[-2][len("data: "):])["error"]
    assert error["type"] == "service_unavailable_error" and "Traceback" not in error["message"]
    assert_openai_error(httpx.get(f"{plain_server.base_url}/health", timeout=10), 503)
    assert_openai_error(httpx.post(f"{plain_server.v1}/chat/completions", json=BODY,
                                   timeout=10), 503)
    assert plain_server.process.poll() is None  # the server itself stays up to say so
