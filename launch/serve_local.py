"""Starts an Aha server on a free loopback port for scripts (benchmarks, evaluations).

    with local_server(["--max-num-seqs", "64"]) as base_url: ...
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy after {timeout_s} s")


def load_test(base_url: str, concurrency: int, num_requests: int, max_tokens: int,
              *flags: str) -> dict[str, Any]:
    """One closed-loop run of client_examples/load_test.py; its JSON summary."""
    out = subprocess.run(
        [sys.executable, str(REPO / "client_examples" / "load_test.py"), "--base-url", base_url,
         "--concurrency", str(concurrency), "--num-requests", str(num_requests),
         "--max-tokens", str(max_tokens), "--quiet", *flags],
        capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out)[0])


@contextmanager
def local_server(args: list[str], log_path: Path | None = None,
                 timeout_s: float = 300) -> Iterator[str]:
    """Yields the server's base URL (with /v1); stops it on exit."""
    port = free_port()
    log = (log_path or Path(os.devnull)).open("wb")
    process = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), *args],
                               cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", process, timeout_s)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
