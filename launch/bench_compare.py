"""Aha and vLLM's own OpenAI server, same engine and model, same load, one run.

Starts both servers on loopback (vLLM with --reasoning-parser deepseek_r1),
then for each concurrency runs the load generator against one, then the
other, alternating which goes first, for --repeats rounds, and prints the Aha / vLLM
ratio of each metric's median.
Writes the runs as JSON, a Markdown table and plots into --out-dir.

    python launch/bench_compare.py --concurrency 1 4 16 64 --num-requests 128 --repeats 3
    python launch/bench_compare.py --model /tmp/wide-random --max-tokens 256
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from launch.serve_local import REPO, free_port, load_test, local_server, wait_healthy
from server.settings import DEFAULT_MODEL

RATIO_KEYS = ("output_throughput", "request_throughput", "median_ttft_ms", "p99_ttft_ms",
              "median_ttfa_ms", "median_itl_ms", "median_e2el_ms", "p99_e2el_ms",
              "mean_tokens_per_chunk")


@contextmanager
def vllm_server(model: Path, engine_flags: list[str], log_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
             "--served-model-name", model.name, "--host", "127.0.0.1", "--port", str(port),
             "--reasoning-parser", "deepseek_r1", "--no-enable-log-requests", *engine_flags],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health", process, 300)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            process.wait(timeout=60)


def load(base_url: str, label: str, concurrency: int, args: argparse.Namespace,
         num_requests: int | None = None) -> dict[str, Any]:
    # Enough requests that every run lasts long enough to measure, whatever the concurrency.
    num_requests = num_requests or max(args.num_requests, args.requests_per_stream * concurrency)
    return load_test(base_url, concurrency, num_requests, args.max_tokens,
                     "--max-seconds", str(args.max_seconds), "--label", label)


def ratios(aha: dict[str, Any], vllm: dict[str, Any]) -> dict[str, float | None]:
    return {k: round(aha[k] / vllm[k], 3) if vllm.get(k) else None for k in RATIO_KEYS}


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    concurrencies = sorted({r["concurrency"] for r in runs})
    for label in ("aha", "vllm"):
        rows = [medians(runs, label, c) for c in concurrencies]
        xs = [r["concurrency"] for r in rows]
        axes[0].plot(xs, [r["output_throughput"] for r in rows], marker="o", label=label)
        for p, style in (("median", "-"), ("p99", "--")):
            axes[1].plot(xs, [r[f"{p}_ttft_ms"] for r in rows], style, marker="o",
                         label=f"{label} {p}")
            axes[2].plot(xs, [r[f"{p}_e2el_ms"] for r in rows], style, marker="o",
                         label=f"{label} {p}")
    for ax, title in zip(axes, ("output tokens/s", "time to first token (ms)",
                                "end-to-end latency (ms)"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent streams")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def medians(runs: list[dict[str, Any]], label: str, concurrency: int) -> dict[str, Any]:
    """Each metric's median over the repeats of one server at one concurrency."""
    rows = [r for r in runs if r["label"] == label and r["concurrency"] == concurrency]
    keys = [k for k, v in rows[0].items() if isinstance(v, int | float)]
    return {"label": label, "concurrency": concurrency,
            **{k: round(statistics.median(r[k] for r in rows), 3) for k in keys}}


def table(runs: list[dict[str, Any]], concurrencies: list[int]) -> str:
    lines = ["| streams | metric | Aha | vLLM | Aha / vLLM |", "|---|---|---|---|---|"]
    for c in concurrencies:
        aha, vllm = medians(runs, "aha", c), medians(runs, "vllm", c)
        for key, value in ratios(aha, vllm).items():
            lines.append(f"| {c} | {key} | {aha[key]} | {vllm[key]} | {value} |")
        lines.append(f"| {c} | failed | {aha['failed']} | {vllm['failed']} | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--num-requests", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--max-num-seqs", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians reported")
    p.add_argument("--requests-per-stream", type=int, default=8,
                   help="each run sends at least this many requests per concurrent stream")
    p.add_argument("--out-dir", type=Path, default=REPO / "docs" / "bench")
    args = p.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.model.name
    engine = ["--max-num-seqs", str(args.max_num_seqs), "--max-model-len", "4096"]
    runs: list[dict[str, Any]] = []
    with local_server(["--model", str(args.model), *engine], args.out_dir / f"{tag}-aha.log") \
            as aha_url, vllm_server(args.model, engine, args.out_dir / f"{tag}-vllm.log") \
            as vllm_url:
        for label, url in (("aha", aha_url), ("vllm", vllm_url)):
            for c in args.concurrency:  # warm-up: compile every batch shape before measuring
                load(url, label, c, args, num_requests=c)
        for repeat in range(args.repeats):
            for i, c in enumerate(args.concurrency):
                order = [("aha", aha_url), ("vllm", vllm_url)]
                for label, url in order if (i + repeat) % 2 == 0 else order[::-1]:
                    started = time.perf_counter()
                    runs.append({**load(url, label, c, args), "repeat": repeat})
                    print(f"{label} c={c}: {runs[-1]['output_throughput']} tok/s "
                          f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    (args.out_dir / f"{tag}.json").write_text(json.dumps(runs, indent=2) + "\n")
    text = table(runs, args.concurrency)
    (args.out_dir / f"{tag}.md").write_text(text + "\n")
    plot(runs, args.out_dir / f"{tag}.png")
    print(text)


if __name__ == "__main__":
    main()
