"""/metrics, scraped by us and by a real Prometheus; the request log and X-Request-Id."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from launch.serve_local import free_port
from tests.conftest import API_KEY, RunningServer
from tests.test_api_http import wait_until_idle

CHAT = {"messages": [{"role": "user", "content": "What is 12 + 34?"}], "temperature": 0,
        "max_tokens": 400}
OUR_SERIES = ("aha_time_to_first_reasoning_token_seconds",
              "aha_time_to_first_content_token_seconds",
              "aha_request_reasoning_tokens", "aha_request_answer_tokens",
              "aha_budget_waits_inserted", "aha_budget_forced_closes", "aha_requests",
              "aha_requests_in_flight", "aha_client_disconnects")


def scrape(server: RunningServer) -> dict[str, float]:
    """Every sample as 'name{label="v",...}' -> value."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


def delta(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


M = 'model_name="aha-demo"'


def test_metrics_are_open_and_promtool_clean(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/metrics", timeout=10)
    assert response.status_code == 200
    families = {f.name for f in text_string_to_metric_families(response.text)}
    for name in OUR_SERIES:
        assert name in families, name
    for name in ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                 "vllm:e2e_request_latency_seconds", "vllm:num_requests_running",
                 "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:prompt_tokens", "vllm:generation_tokens"):
        assert name in families, name
    assert f'vllm:num_requests_running{{engine="0",{M}}}' in response.text.replace(
        f'{M},engine="0"', f'engine="0",{M}')
    ours = "\n".join(line for line in response.text.splitlines()
                     if line.startswith(("aha_", "# HELP aha_", "# TYPE aha_"))) + "\n"
    check = subprocess.run(["promtool", "check", "metrics"], input=ours, capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_counters_move_by_exactly_what_a_request_implies(server: RunningServer,
                                                         http: httpx.Client) -> None:
    before = scrape(server)
    forced = http.post("/v1/chat/completions", json={
        **CHAT, "max_tokens": 1000,
        "budget_forcing": {"min_thinking_tokens": 300, "max_waits": 2}}).json()
    capped = http.post("/v1/chat/completions", json={
        **CHAT, "stream": True, "stream_options": {"include_usage": True},
        "budget_forcing": {"max_thinking_tokens": 10}})
    assert capped.status_code == 200
    capped_usage = json.loads(capped.text.split("data: ")[-2])["usage"]
    failed = http.post("/v1/chat/completions", json={**CHAT, "temperature": 9})
    assert failed.status_code == 400
    after = scrape(server)
    usage = forced["usage"]
    waits = usage["budget_forcing"]["waits_inserted"]
    assert waits >= 1
    assert delta(before, after, f"aha_budget_waits_inserted_total{{{M}}}") == waits
    forced_closes = (usage["budget_forcing"]["forced_closes"]
                     + capped_usage["budget_forcing"]["forced_closes"])
    assert capped_usage["budget_forcing"]["forced_closes"] == 1
    assert delta(before, after, f"aha_budget_forced_closes_total{{{M}}}") == forced_closes
    ok = 'endpoint="chat.completions",{},outcome="ok",stream="{}"'
    assert delta(before, after, f"aha_requests_total{{{ok.format(M, 'false')}}}") == 1
    assert delta(before, after, f"aha_requests_total{{{ok.format(M, 'true')}}}") == 1
    rejected = f'endpoint="chat.completions",{M},outcome="client_error",stream="unknown"'
    assert delta(before, after, f"aha_requests_total{{{rejected}}}") == 1
    assert delta(before, after, f"aha_request_reasoning_tokens_count{{{M}}}") == 2
    reasoning_sum = delta(before, after, f"aha_request_reasoning_tokens_sum{{{M}}}")
    assert reasoning_sum > usage["completion_tokens_details"]["reasoning_tokens"]
    assert delta(before, after, f"aha_time_to_first_content_token_seconds_count{{{M}}}") == 2
    assert delta(before, after, f"vllm:request_success_total{{engine=\"0\",finished_reason="
                 f"\"stop\",{M}}}") >= 2
    assert after[f"aha_requests_in_flight{{{M}}}"] == 0


def test_a_dropped_stream_counts_as_aborted(server: RunningServer, http: httpx.Client) -> None:
    before = scrape(server)
    body = {**CHAT, "stream": True, "ignore_eos": True, "max_tokens": 3000}
    with httpx.stream("POST", f"{server.v1}/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        next(response.iter_lines())
    wait_until_idle(http)
    time.sleep(0.2)
    after = scrape(server)
    aborted = f'endpoint="chat.completions",{M},outcome="aborted",stream="true"'
    assert delta(before, after, f"aha_requests_total{{{aborted}}}") == 1
    assert delta(before, after, f"aha_client_disconnects_total{{{M}}}") == 1


def test_a_dropped_non_stream_request_counts_once_as_aborted(server: RunningServer,
                                                            http: httpx.Client) -> None:
    before = scrape(server)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.v1}/chat/completions", timeout=0.5,
                   json={**CHAT, "ignore_eos": True, "max_tokens": 3000},
                   headers={"Authorization": f"Bearer {API_KEY}"})
    wait_until_idle(http)
    time.sleep(0.2)
    after = scrape(server)
    aborted = f'endpoint="chat.completions",{M},outcome="aborted",stream="false"'
    rejected = f'endpoint="chat.completions",{M},outcome="client_error",stream="unknown"'
    assert delta(before, after, f"aha_requests_total{{{aborted}}}") == 1
    assert delta(before, after, f"aha_requests_total{{{rejected}}}") == 0


def test_request_id_is_echoed_and_logged(server: RunningServer, http: httpx.Client) -> None:
    given = http.post("/v1/chat/completions", json=CHAT, headers={"X-Request-Id": "trace-42.a"})
    assert given.headers["x-request-id"] == "trace-42.a"
    made = http.post("/v1/chat/completions", json=CHAT)
    assert len(made.headers["x-request-id"]) == 32
    error = http.post("/v1/chat/completions", content=b"{", headers={"X-Request-Id": "bad id!"})
    assert error.headers["x-request-id"] != "bad id!"
    time.sleep(0.2)
    lines = [json.loads(line[line.index("{"):]) for line in server.log().splitlines()
             if "aha.requests" in line and "trace-42.a" in line]
    assert len(lines) == 1
    line = lines[0]
    assert line["status"] == 200 and line["outcome"] == "ok" and line["finish_reasons"] == ["stop"]
    assert line["reasoning_tokens"] > 0 and line["answer_tokens"] > 0
    assert 0 < line["ttft_s"] <= line["time_to_first_answer_s"] <= line["total_s"]


@pytest.fixture(scope="module")
def prometheus(server: RunningServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "the install step puts Debian's prometheus on PATH"
    work = tmp_path_factory.mktemp("prometheus")
    target = server.base_url.removeprefix("http://")
    (work / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: aha, static_configs: [{{targets: ['{target}']}}]}}]\n")
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work}/data",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
        stderr=(work / "log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def query(prometheus: str, expr: str) -> float | None:
    result = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    values = result["data"]["result"]
    return float(values[0]["value"][1]) if values else None


def test_a_real_prometheus_scrapes_our_series(prometheus: str, server: RunningServer,
                                              http: httpx.Client) -> None:
    http.post("/v1/chat/completions", json={**CHAT, "budget_forcing": {"max_thinking_tokens": 8}})
    expected = scrape(server)
    waits_key = f"aha_budget_forced_closes_total{{{M}}}"
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        seen = query(prometheus, f'aha_budget_forced_closes_total{{{M}}}')
        if seen == expected[waits_key]:
            break
        time.sleep(0.5)
    assert seen == expected[waits_key]
    for name in ("aha_requests_total", "aha_time_to_first_content_token_seconds_bucket",
                 "aha_request_reasoning_tokens_sum", "vllm:generation_tokens_total",
                 "vllm:kv_cache_usage_perc"):
        assert query(prometheus, f"sum({name})") is not None, name
    assert query(prometheus, 'up{job="aha"}') == 1
