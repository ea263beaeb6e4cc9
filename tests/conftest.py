"""One real Aha server (real vLLM engine, default demo model) for the whole session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from launch.serve_local import REPO, free_port, wait_healthy

API_KEY = "test-key"
STARTUP_TIMEOUT_S = 300
EFFORTS = '{"low": 16, "medium": 1024, "high": 4096}'


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# Every server started by the suite, for the leak guard below.
RUNNING: list[RunningServer] = []


def start_server(args: list[str], log_path: Path, *,
                 cpu_kv_cache_gib: int | None = 1) -> RunningServer:
    """`cpu_kv_cache_gib=None` leaves the KV cache to the server's own CPU default."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    if cpu_kv_cache_gib is not None:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kv_cache_gib)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), *args],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_healthy(f"{server.base_url}/health", process, STARTUP_TIMEOUT_S)
    except RuntimeError as exc:
        process.kill()
        raise RuntimeError(f"{exc}:\n{server.log()[-3000:]}") from exc
    RUNNING.append(server)
    return server


def stop_server(server: RunningServer) -> None:
    if server in RUNNING:
        RUNNING.remove(server)
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    # No VLLM_CPU_KVCACHE_SPACE: the shared server starts as `make serve` does.
    running = start_server(["--api-key", API_KEY, "--keepalive-s", "0.3",
                            "--reasoning-effort-budgets", EFFORTS], log_path,
                           cpu_kv_cache_gib=None)
    yield running
    stop_server(running)


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


@pytest.fixture(autouse=True, scope="module")
def no_engine_request_left_behind() -> Iterator[None]:
    """After each test module, every live engine has 0 unfinished requests.

    Waits for aborts and finishing streams to settle (up to a minute, for slow
    machines); what must hold is that the count comes back to 0, not how fast.
    """
    yield
    for server in list(RUNNING):
        if server.process.poll() is not None:
            continue
        health = httpx.get(f"{server.base_url}/health", timeout=30)
        if health.status_code != 200:
            continue  # a test killed this server's engine on purpose
        deadline_s = time.monotonic() + 60
        while health.json()["requests_in_flight"] and time.monotonic() < deadline_s:
            time.sleep(0.2)
            health = httpx.get(f"{server.base_url}/health", timeout=30)
        assert health.json()["requests_in_flight"] == 0, f"engine requests leaked: {health.text}"
        metrics = httpx.get(f"{server.base_url}/metrics", timeout=30).text
        running = [line for line in metrics.splitlines()
                   if line.startswith(("vllm:num_requests_running{", "aha_requests_in_flight{"))]
        assert running and all(line.endswith(" 0.0") for line in running), running
