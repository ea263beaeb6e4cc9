"""Load generator for OpenAI-compatible chat servers, with reasoning-aware latencies.

Closed-loop concurrency sweeps (--concurrency 1 4 16 64) or open-loop Poisson
arrivals (--request-rate 2 8). Each run is bounded by --num-requests and
--max-seconds. Besides the usual time to first token (TTFT), time per output
token (TPOT), inter-token latency (ITL) and end-to-end latency (E2EL), it
reports time to first reasoning token (TTFR) and time to first answer token
(TTFA), the latency a reasoning model's user feels. Output token counts come
from the usage chunk. JSON keys follow `vllm bench serve` where they mean the
same.

    python client_examples/load_test.py --base-url http://127.0.0.1:8000/v1 \\
        --concurrency 1 4 16 --num-requests 64 --out results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tqdm import tqdm

PERCENTILES = (50, 90, 99)


@dataclass(slots=True)
class Result:
    ok: bool = False
    error: str = ""
    ttft_s: float | None = None
    ttfr_s: float | None = None
    ttfa_s: float | None = None
    e2el_s: float = 0.0
    itl_s: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    num_chunks: int = 0  # chunks that carried text


def load_prompts(path: Path | None, count: int, seed: int) -> list[list[dict[str, str]]]:
    if path is not None:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [row["messages"] for row in rows]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from distill import teacher  # the demo model's own tasks

    return [[{"role": "user", "content": p.question}]
            for p in teacher.sample("test", count, seed)]


async def one_request(client: httpx.AsyncClient, body: dict[str, Any]) -> Result:
    result = Result()
    started = last = time.perf_counter()
    try:
        async with client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
                return result
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                now = time.perf_counter()
                if "error" in chunk:
                    result.error = str(chunk["error"].get("message"))
                    return result
                if chunk.get("usage"):
                    usage = chunk["usage"]
                    result.prompt_tokens = usage["prompt_tokens"]
                    result.output_tokens = usage["completion_tokens"]
                    details = usage.get("completion_tokens_details") or {}
                    result.reasoning_tokens = details.get("reasoning_tokens") or 0
                for choice in chunk.get("choices", []):
                    delta = choice.get("delta", {})
                    thinking = delta.get("reasoning_content") or delta.get("reasoning")
                    answer = delta.get("content")
                    if not (thinking or answer):
                        continue
                    result.num_chunks += 1
                    if result.ttft_s is None:
                        result.ttft_s = now - started
                    else:
                        result.itl_s.append(now - last)
                    last = now
                    if thinking and result.ttfr_s is None:
                        result.ttfr_s = now - started
                    if answer and result.ttfa_s is None:
                        result.ttfa_s = now - started
        result.e2el_s = time.perf_counter() - started
        result.ok = result.ttft_s is not None
        if not result.ok:
            result.error = "no tokens streamed"
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def request_bodies(prompts: list[list[dict[str, str]]], model: str, max_tokens: int,
                   extra: dict[str, Any]) -> Iterator[dict[str, Any]]:
    i = 0
    while True:
        yield {"model": model, "messages": prompts[i % len(prompts)], "stream": True,
               "stream_options": {"include_usage": True}, "max_tokens": max_tokens,
               "temperature": 0, **extra}
        i += 1


async def closed_loop(client: httpx.AsyncClient, bodies: Iterator[dict[str, Any]],
                      concurrency: int, num_requests: int, max_seconds: float,
                      bar: tqdm) -> list[Result]:
    results: list[Result] = []
    deadline = time.perf_counter() + max_seconds
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while sent < num_requests and time.perf_counter() < deadline:
            sent += 1
            results.append(await one_request(client, next(bodies)))
            bar.update(1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def open_loop(client: httpx.AsyncClient, bodies: Iterator[dict[str, Any]], rate: float,
                    num_requests: int, max_seconds: float, seed: int, bar: tqdm) -> list[Result]:
    rng = random.Random(seed)
    deadline = time.perf_counter() + max_seconds
    tasks = []
    for _ in range(num_requests):
        if time.perf_counter() >= deadline:
            break
        task = asyncio.create_task(one_request(client, next(bodies)))
        task.add_done_callback(lambda _: bar.update(1))
        tasks.append(task)
        await asyncio.sleep(rng.expovariate(rate))
    return list(await asyncio.gather(*tasks))


def stats_ms(name: str, values: list[float]) -> dict[str, float]:
    arr = np.array(values or [0.0]) * 1000
    out = {f"mean_{name}_ms": float(arr.mean()), f"median_{name}_ms": float(np.median(arr)),
           f"std_{name}_ms": float(arr.std())}
    out.update({f"p{p}_{name}_ms": float(np.percentile(arr, p)) for p in PERCENTILES})
    return {k: round(v, 3) for k, v in out.items()}


def summarise(results: list[Result], duration_s: float) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    output = sum(r.output_tokens for r in ok)
    tpot = [(r.e2el_s - (r.ttft_s or 0)) / (r.output_tokens - 1)
            for r in ok if r.output_tokens > 1]
    summary: dict[str, Any] = {
        "completed": len(ok), "failed": len(results) - len(ok),
        "errors": sorted({r.error for r in results if not r.ok})[:5],
        "duration": round(duration_s, 3),
        "total_input_tokens": sum(r.prompt_tokens for r in ok),
        "total_output_tokens": output,
        "total_reasoning_tokens": sum(r.reasoning_tokens for r in ok),
        "request_throughput": round(len(ok) / duration_s, 3),
        "output_throughput": round(output / duration_s, 2),
        # Servers merge tokens into a chunk when their reader lags; fewer, larger chunks
        # cost a client on the same cores less, so compare this before blaming a server.
        "mean_tokens_per_chunk": round(output / max(1, sum(r.num_chunks for r in ok)), 3),
    }
    summary.update(stats_ms("ttft", [r.ttft_s for r in ok if r.ttft_s is not None]))
    summary.update(stats_ms("ttfr", [r.ttfr_s for r in ok if r.ttfr_s is not None]))
    summary.update(stats_ms("ttfa", [r.ttfa_s for r in ok if r.ttfa_s is not None]))
    summary.update(stats_ms("tpot", tpot))
    summary.update(stats_ms("itl", [x for r in ok for x in r.itl_s]))
    summary.update(stats_ms("e2el", [r.e2el_s for r in ok]))
    return summary


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {args.api_key}"}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=args.base_url, headers=headers, timeout=args.timeout_s,
                                 limits=limits) as client:
        model = args.model or (await client.get("/models")).json()["data"][0]["id"]
        prompts = load_prompts(args.prompts, max(args.num_requests, 64), args.seed)
        extra = json.loads(args.extra_body) if args.extra_body else {}
        runs: list[dict[str, Any]] = []
        plan = ([("concurrency", c) for c in args.concurrency or []]
                + [("request_rate", r) for r in args.request_rate or []])
        for kind, value in plan:
            bodies = request_bodies(prompts, model, args.max_tokens, extra)
            with tqdm(total=args.num_requests, desc=f"{kind}={value}", file=sys.stderr,
                      disable=args.quiet) as bar:
                started = time.perf_counter()
                if kind == "concurrency":
                    results = await closed_loop(client, bodies, int(value), args.num_requests,
                                                args.max_seconds, bar)
                else:
                    results = await open_loop(client, bodies, float(value), args.num_requests,
                                              args.max_seconds, args.seed, bar)
                duration = time.perf_counter() - started
            runs.append({"label": args.label, kind: value, "max_tokens": args.max_tokens,
                         **summarise(results, duration)})
        return runs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    p.add_argument("--api-key", default="none")
    p.add_argument("--model", help="default: the server's first model")
    p.add_argument("--concurrency", type=int, nargs="*", help="closed-loop streams per run")
    p.add_argument("--request-rate", type=float, nargs="*", help="open-loop Poisson requests/s")
    p.add_argument("--num-requests", type=int, default=64, help="requests per run (at most)")
    p.add_argument("--max-seconds", type=float, default=300, help="time per run (at most)")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--prompts", type=Path, help="JSONL of {'messages': [...]}; default: demo tasks")
    p.add_argument("--extra-body", help="JSON merged into every request, e.g. budget_forcing")
    p.add_argument("--timeout-s", type=float, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", default="server", help="name of the server in the output")
    p.add_argument("--out", type=Path, help="write the runs as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main() -> None:
    args = parser().parse_args()
    if not args.concurrency and not args.request_rate:
        args.concurrency = [1, 4, 16, 64]
    runs = asyncio.run(run(args))
    text = json.dumps(runs, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
