"""Cost of budget forcing: a request extended by N waits vs a plain one of equal length.

Each round sends one forced request (min thinking far above what the model
wants, max_waits=N, so exactly N waits are spliced in), reads its completion
token count, then sends a plain request of the same prompt producing the same
number of tokens (ignore_eos). Rounds alternate; medians are reported.

    python launch/bench_budget.py --rounds 7 --waits 4
    python launch/bench_budget.py --base-url http://127.0.0.1:8000/v1   # a running server
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from launch.serve_local import local_server

QUESTION = "What is 457 + 386?"


def timed(client: httpx.Client, body: dict[str, object]) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    response = client.post("/chat/completions", json=body)
    response.raise_for_status()
    return time.perf_counter() - started, response.json()


def bench(base_url: str, rounds: int, waits: int) -> dict[str, object]:
    base = {"messages": [{"role": "user", "content": QUESTION}], "temperature": 0,
            "max_tokens": 3000}
    forced_body = {**base, "budget_forcing": {"min_thinking_tokens": 2500, "max_waits": waits,
                                              "answer_tokens": 200}}
    forced_s, plain_s = [], []
    with httpx.Client(base_url=base_url, timeout=300) as client:
        timed(client, base)  # warm-up: compile paths, fill the prefix cache
        for _ in range(rounds):
            t_forced, forced = timed(client, forced_body)
            usage = forced["usage"]
            assert isinstance(usage, dict)
            assert usage["budget_forcing"]["waits_inserted"] == waits, usage
            num_tokens = int(usage["completion_tokens"])
            t_plain, plain = timed(client, {**base, "max_tokens": num_tokens, "ignore_eos": True})
            assert plain["usage"]["completion_tokens"] == num_tokens  # type: ignore[index]
            forced_s.append(t_forced)
            plain_s.append(t_plain)
    ratio = statistics.median(f / p for f, p in zip(forced_s, plain_s, strict=True))
    return {"waits": waits, "rounds": rounds, "completion_tokens": num_tokens,
            "forced_median_s": round(statistics.median(forced_s), 4),
            "plain_median_s": round(statistics.median(plain_s), 4),
            "ratio_forced_over_plain": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running server; default: start one here")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--waits", type=int, default=4)
    args = parser.parse_args()
    server = (contextlib.nullcontext(args.base_url) if args.base_url
              else local_server(["--max-model-len", "4096"]))
    with server as base_url:
        print(json.dumps(bench(base_url, args.rounds, args.waits), indent=2))


if __name__ == "__main__":
    main()
