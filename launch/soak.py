"""Soak and storm benchmark: N streams for M minutes, with the clients servers really get.

Each of --streams workers loops until --minutes are spent, choosing each time:
a good stream (some with a thinking budget), a client that disconnects mid-stream,
a slow reader, or a bad request (from a list of inputs that once gave 500s). Then a
disconnect storm: --storm requests opened at once and dropped after their first event.

It reports failed good requests (must be 0), bad requests answered 5xx (must be 0),
the server's RSS over time (engine process included) and its slope, engine requests
left in flight at the end (must be 0) and TTFT percentiles. Not a test: it prints
figures (docs/reliability.md has a run).

    python launch/soak.py --minutes 10 --streams 64 --out soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import contextlib

from distill import teacher
from launch.serve_local import REPO, free_port, wait_healthy

BAD_BODIES: list[dict[str, Any]] = [
    {"seed": 2**64}, {"seed": 2**64 - 1}, {"stop": ""}, {"logit_bias": {"²": 1}},
    {"top_k": 2**64}, {"chat_template_kwargs": {"messages": 5}},
    {"chat_template_kwargs": {"continue_final_message": True}},
    {"chat_template": "{{ 1/0 }}"}, {"max_tokens": 1, "budget_forcing": {"max_thinking_tokens": 5}},
    {"max_tokens": 10, "min_tokens": 50}, {"n": 99}, {"messages": []},
    {"budget_forcing": {"min_thinking_tokens": 300, "max_thinking_tokens": 100}},
]
RAW_BAD = [b'{"messages": [{"role": "user", "content": "\\ud800"}]}', b"nonsense", b"{"]


@dataclass
class Tally:
    good: int = 0
    good_failed: int = 0
    disconnected: int = 0
    slow: int = 0
    bad: int = 0
    bad_5xx: int = 0
    shed_429: int = 0
    ttft_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def stream_once(client: httpx.AsyncClient, body: dict[str, Any], tally: Tally, *,
                      drop_after: int | None = None, read_delay_s: float = 0.0) -> None:
    started = time.perf_counter()
    events: list[str] = []
    async with client.stream("POST", "/chat/completions", json=body) as response:
        if response.status_code == 429:
            tally.shed_429 += 1
            return
        if response.status_code != 200:
            tally.good_failed += 1
            tally.failures.append(f"status {response.status_code}")
            return
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            if not events:
                tally.ttft_s.append(time.perf_counter() - started)
            events.append(line[6:])
            if drop_after is not None and len(events) >= drop_after:
                return  # closing the stream here is the client leaving
            if read_delay_s:
                await asyncio.sleep(read_delay_s)
    if not events or events[-1] != "[DONE]" or any('"error"' in e for e in events[-3:]):
        tally.good_failed += 1
        tally.failures.append(f"stream ended {events[-2:] if events else 'empty'}")


async def bad_once(client: httpx.AsyncClient, rng: random.Random, tally: Tally) -> None:
    tally.bad += 1
    if rng.random() < 0.3:
        response = await client.post("/chat/completions", content=rng.choice(RAW_BAD),
                                     headers={"Content-Type": "application/json"})
    else:
        body = {"messages": [{"role": "user", "content": "What is 2 + 2?"}], "max_tokens": 64,
                **rng.choice(BAD_BODIES)}
        response = await client.post("/chat/completions", json=body)
    if response.status_code >= 500:
        tally.bad_5xx += 1
        tally.failures.append(f"bad input got {response.status_code}: {response.text[:200]}")


async def worker(client: httpx.AsyncClient, questions: list[str], deadline_s: float,
                 seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline_s:
        body: dict[str, Any] = {
            "messages": [{"role": "user", "content": rng.choice(questions)}], "stream": True,
            "max_tokens": 600, "stream_options": {"include_usage": True}}
        if rng.random() < 0.3:
            body["budget_forcing"] = rng.choice([{"min_thinking_tokens": 250, "max_waits": 2},
                                                 {"max_thinking_tokens": 48}])
        roll = rng.random()
        try:
            if roll < 0.08:
                tally.disconnected += 1
                await stream_once(client, body, tally, drop_after=rng.randint(1, 20))
            elif roll < 0.13:
                tally.slow += 1
                await stream_once(client, body, tally, read_delay_s=0.02)
            elif roll < 0.20:
                await bad_once(client, rng, tally)
            else:
                tally.good += 1
                await stream_once(client, body, tally)
        except httpx.HTTPError as exc:
            tally.good_failed += 1
            tally.failures.append(f"{type(exc).__name__}: {exc}")


def rss_mib(pid: int) -> float:
    process = psutil.Process(pid)
    members = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in members if p.is_running()) / 2**20


async def sample_rss(pid: int, interval_s: float, stop: asyncio.Event,
                     samples: list[tuple[float, float]]) -> None:
    started = time.monotonic()
    while not stop.is_set():
        samples.append((round(time.monotonic() - started, 1), round(rss_mib(pid), 1)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def in_flight(client: httpx.AsyncClient, base_url: str, settle_s: float = 60) -> int:
    deadline = time.monotonic() + settle_s
    count = -1
    while time.monotonic() < deadline:
        count = int((await client.get(f"{base_url}/health")).json()["requests_in_flight"])
        if count == 0:
            break
        await asyncio.sleep(0.5)
    return count


async def storm(client: httpx.AsyncClient, num_requests: int, tally: Tally) -> None:
    body = {"messages": [{"role": "user", "content": "What is 457 + 386?"}], "stream": True,
            "max_tokens": 2000, "ignore_eos": True}
    await asyncio.gather(*(stream_once(client, body, tally, drop_after=1)
                           for _ in range(num_requests)), return_exceptions=True)


async def soak(args: argparse.Namespace, base_url: str, pid: int) -> dict[str, Any]:
    questions = [p.question for p in teacher.sample("test", 500, args.seed)]
    tally, samples, stop = Tally(), [], asyncio.Event()
    limits = httpx.Limits(max_connections=args.streams + args.storm + 8)
    async with httpx.AsyncClient(base_url=f"{base_url}/v1", timeout=300, limits=limits) as client:
        sampler = asyncio.create_task(sample_rss(pid, 10.0, stop, samples))
        deadline = time.monotonic() + args.minutes * 60
        await asyncio.gather(*(worker(client, questions, deadline, args.seed + i, tally)
                               for i in range(args.streams)))
        left_after_soak = await in_flight(client, base_url)
        storm_tally = Tally()
        await storm(client, args.storm, storm_tally)
        left_after_storm = await in_flight(client, base_url)
        stop.set()
        await sampler
    minutes = np.array([t / 60 for t, _ in samples])
    rss = np.array([m for _, m in samples])
    warm = minutes >= 1.0  # the first minute fills caches and the allocator's pools
    slope = float(np.polyfit(minutes[warm], rss[warm], 1)[0]) if warm.sum() >= 3 else None
    ttft = np.array(tally.ttft_s) if tally.ttft_s else np.array([0.0])
    return {
        "minutes": args.minutes, "streams": args.streams, "seed": args.seed,
        "good_requests": tally.good, "good_failed": tally.good_failed,
        "disconnects": tally.disconnected, "slow_readers": tally.slow,
        "bad_requests": tally.bad, "bad_requests_5xx": tally.bad_5xx,
        "shed_429": tally.shed_429,
        "ttft_p50_s": round(float(np.percentile(ttft, 50)), 3),
        "ttft_p99_s": round(float(np.percentile(ttft, 99)), 3),
        "rss_mib_first": samples[0][1] if samples else None,
        "rss_mib_last": samples[-1][1] if samples else None,
        "rss_slope_mib_per_min": None if slope is None else round(slope, 2),
        "engine_requests_left_after_soak": left_after_soak,
        "storm_requests": args.storm, "engine_requests_left_after_storm": left_after_storm,
        "rss_samples": samples, "failures": tally.failures[:20],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=64, help="concurrent client loops")
    parser.add_argument("--storm", type=int, default=200, help="requests in the disconnect storm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-args", default="", help="extra flags for python -m server")
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    port = free_port()
    log = open("/tmp/aha-soak-server.log", "wb")  # noqa: SIM115  (closed below)
    process = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port),
                                *args.server_args.split()], cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base_url}/health", process, 300)
        result = asyncio.run(soak(args, base_url, process.pid))
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
