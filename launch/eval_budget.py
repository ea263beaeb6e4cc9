"""s1-style evaluation of budget forcing on the demo model's held-out set.

Runs the held-out problems through the server with: no forcing; min forcing
with 1, 2 and 4 waits; caps at several budgets. Writes a Markdown table and a
plot (accuracy against mean thinking tokens) into docs/.

    python launch/eval_budget.py --num-problems 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from distill.evaluate import evaluate
from launch.serve_local import REPO, local_server

MIN_THINKING = 2000  # far above what the model wants: every stop below it gets a wait


def configurations() -> list[tuple[str, dict[str, Any] | None]]:
    configs: list[tuple[str, dict[str, Any] | None]] = [("no forcing", None)]
    for waits in (1, 2, 4):
        configs.append((f"min forcing, {waits} wait{'s' if waits > 1 else ''}", {
            "budget_forcing": {"min_thinking_tokens": MIN_THINKING, "max_waits": waits}}))
    for cap in (32, 64, 128, 256):
        configs.append((f"cap {cap}", {"budget_forcing": {"max_thinking_tokens": cap}}))
    return configs


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        marker = "o" if row["name"].startswith("cap") else ("s" if "wait" in row["name"] else "*")
        ax.scatter(row["mean_reasoning_tokens"], 100 * row["accuracy"], marker=marker, s=60)
        ax.annotate(row["name"], (row["mean_reasoning_tokens"], 100 * row["accuracy"]),
                    textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("mean thinking tokens per answer")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title("Budget forcing on the Aha demo model (temperature 0)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| configuration | accuracy | mean thinking tokens | mean latency (s) | "
             "answers with content |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {100 * r['accuracy']:.1f}% | "
                     f"{r['mean_reasoning_tokens']:.0f} | {r['mean_latency_s']:.3f} | "
                     f"{100 * r['share_with_reasoning_and_content']:.0f}% |")
    return "\n".join(lines)


async def run_all(base_url: str, num_problems: int) -> list[dict[str, Any]]:
    rows = []
    for name, extra in configurations():
        result = await evaluate(base_url, "none", num_problems, extra_body=extra, max_tokens=3000)
        rows.append({"name": name, **result})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running server; default: start one here")
    parser.add_argument("--num-problems", type=int, default=200)
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    server = (contextlib.nullcontext(args.base_url) if args.base_url
              else local_server(["--max-model-len", "4096", "--max-num-seqs", "32"]))
    with server as base_url:
        rows = asyncio.run(run_all(base_url, args.num_problems))
    args.out_dir.mkdir(exist_ok=True)
    (args.out_dir / "budget_eval.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out_dir / "budget_eval.md").write_text(table(rows) + "\n")
    plot(rows, args.out_dir / "budget_eval.png")
    print(table(rows))


if __name__ == "__main__":
    main()
