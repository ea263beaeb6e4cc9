"""A short smoke run of the load generator against the session server."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import API_KEY, REPO, RunningServer


def test_load_test_smoke(server: RunningServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "runs.json"
    subprocess.run(
        [sys.executable, "client_examples/load_test.py", "--base-url", server.v1,
         "--api-key", API_KEY, "--concurrency", "1", "3", "--request-rate", "20",
         "--num-requests", "4", "--max-tokens", "300", "--quiet", "--out", str(out)],
        cwd=REPO, check=True, timeout=180, capture_output=True)
    runs = json.loads(out.read_text())
    assert [r.get("concurrency", r.get("request_rate")) for r in runs] == [1, 3, 20.0]
    for run in runs:
        assert run["completed"] == 4 and run["failed"] == 0
        assert run["output_throughput"] > 0 and run["total_reasoning_tokens"] > 0
        assert 0 < run["median_ttft_ms"] <= run["median_ttfa_ms"] <= run["median_e2el_ms"]
        assert run["mean_itl_ms"] > 0 and run["mean_tpot_ms"] > 0
        assert 1 <= run["mean_tokens_per_chunk"] < run["total_output_tokens"]
