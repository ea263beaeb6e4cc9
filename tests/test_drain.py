"""SIGTERM drains: no new work, in-flight requests finish or end with an error event, exit 0."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer, start_server, stop_server
from tests.test_api_http import assert_openai_error

DRAIN_TIMEOUT_S = 3
PROMPT = [{"role": "user", "content": "What is 12 + 34?"}]


@pytest.fixture(scope="module")
def draining_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("drain") / "server.log"
    running = start_server(["--drain-timeout-s", str(DRAIN_TIMEOUT_S)], log_path)
    yield running
    stop_server(running)


class Stream(threading.Thread):
    """Reads one SSE stream to its end in the background; the first event is awaited."""

    def __init__(self, server: RunningServer, body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.server, self.body = server, {**body, "messages": PROMPT, "stream": True}
        self.events: list[str] = []
        self.started_event = threading.Event()

    def run(self) -> None:
        with httpx.stream("POST", f"{self.server.v1}/chat/completions", json=self.body,
                          timeout=120) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    self.events.append(line[len("data: "):])
                    self.started_event.set()


def test_sigterm_finishes_short_requests_aborts_long_ones_and_exits_0(
        draining_server: RunningServer) -> None:
    # About 4,000 engine steps: far beyond the drain timeout on any machine.
    long = Stream(draining_server, {"max_tokens": 4000, "ignore_eos": True})
    short = Stream(draining_server, {"max_tokens": 8, "ignore_eos": True})
    long.start()
    assert long.started_event.wait(60)
    short.start()
    assert short.started_event.wait(60)
    draining_server.process.send_signal(signal.SIGTERM)

    ready = httpx.get(f"{draining_server.base_url}/ready", timeout=30)
    for _ in range(100):  # the signal is handled asynchronously: poll until it is
        if ready.status_code == 503:
            break
        time.sleep(0.1)
        ready = httpx.get(f"{draining_server.base_url}/ready", timeout=30)
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "server_draining"
    refused = httpx.post(f"{draining_server.v1}/chat/completions", timeout=30,
                         json={"messages": PROMPT, "max_tokens": 5})
    assert assert_openai_error(refused, 503)["code"] == "server_draining"

    short.join(60)
    assert short.events[-1] == "[DONE]"
    assert not any('"error"' in e for e in short.events)  # finished within the drain
    long.join(60)
    assert long.events[-1] == "[DONE]"
    error = json.loads(long.events[-2])["error"]  # aborted at the drain timeout
    assert error["type"] == "service_unavailable_error" and error["message"]
    assert draining_server.process.wait(timeout=60) == 0
