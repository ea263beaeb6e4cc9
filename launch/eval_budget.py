"""s1-style evaluation of budget forcing on the demo model's held-out set.

Runs the held-out problems of both splits (standard, hard) through the server
with: no forcing; min forcing with 1, 2, 4 and 8 waits; and caps of 16 to 256
thinking tokens. Writes a Markdown table and a plot (accuracy against mean
thinking tokens, one panel a split) into docs/.

    python launch/eval_budget.py --num-problems 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from distill.evaluate import evaluate
from launch.serve_local import REPO, local_server

MIN_THINKING = 2000  # far above what the model wants: every stop below it gets a wait


def configurations() -> list[tuple[str, dict[str, Any] | None]]:
    """No forcing, 1-8 forced waits and caps of 16-256 thinking tokens."""
    configs: list[tuple[str, dict[str, Any] | None]] = [("no forcing", None)]
    for waits in (1, 2, 4, 8):
        configs.append((f"min forcing, {waits} wait{'s' if waits > 1 else ''}", {
            "budget_forcing": {"min_thinking_tokens": MIN_THINKING, "max_waits": waits}}))
    for cap in (16, 32, 64, 128, 256):
        configs.append((f"cap {cap}", {"budget_forcing": {"max_thinking_tokens": cap}}))
    return configs


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(dict.fromkeys(row["split"] for row in rows))
    fig, axes = plt.subplots(1, len(splits), figsize=(6.5 * len(splits), 4.5), sharey=True,
                             squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        for kind, marker in (("cap", "o"), ("wait", "s")):
            points = [r for r in rows if r["split"] == split and kind in r["name"]]
            if not points:
                continue
            ax.plot([r["mean_reasoning_tokens"] for r in points],
                    [100 * r["accuracy"] for r in points], marker=marker,
                    label="caps" if kind == "cap" else "forced waits")
            for r in points:
                ax.annotate(r["name"].replace("min forcing, ", ""),
                            (r["mean_reasoning_tokens"], 100 * r["accuracy"]),
                            textcoords="offset points", xytext=(4, 4), fontsize=7)
        base = next(r for r in rows if r["split"] == split and r["name"] == "no forcing")
        ax.axhline(100 * base["accuracy"], color="grey", linestyle="--", linewidth=1,
                   label="no forcing")
        ax.set_title(f"{split} split")
        ax.set_xlabel("mean thinking tokens per answer")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0][0].set_ylabel("held-out accuracy (%)")
    fig.suptitle("Budget forcing on the Aha demo model (temperature 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


TASKS = ("add", "subtract", "count", "compare", "sort")


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"| split | configuration | accuracy | per task ({', '.join(TASKS)}) | "
             "mean thinking tokens | mean latency (s) | thinking and answer | "
             "answers in the answer's form | `</think>` in the answer |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per_task = ", ".join(f"{100 * r['accuracy_by_task'].get(t, 0):.1f}" for t in TASKS)
        lines.append(f"| {r['split']} | {r['name']} | {100 * r['accuracy']:.1f}% | "
                     f"{per_task} | {r['mean_reasoning_tokens']:.0f} | "
                     f"{r['mean_latency_s']:.3f} | "
                     f"{100 * r['share_with_reasoning_and_content']:.1f}% | "
                     f"{100 * r['share_answer_form']:.1f}% | "
                     f"{100 * r['share_end_marker_in_answer']:.1f}% |")
    return "\n".join(lines)


async def run_all(base_url: str, num_problems: int, splits: list[str],
                  concurrency: int, dump_dir: Path | None = None) -> list[dict[str, Any]]:
    rows = []
    for split in splits:
        for name, extra in configurations():
            dump = None
            if dump_dir is not None:
                dump = dump_dir / f"{split}-{re.sub(r'[^a-z0-9]+', '-', name)}.jsonl"
            result = await evaluate(base_url, "none", num_problems, extra_body=extra,
                                    max_tokens=3000, split=split, concurrency=concurrency,
                                    dump_path=dump)
            rows.append({"split": split, "name": name, **result})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running server; default: start one here")
    parser.add_argument("--num-problems", type=int, default=1000,
                        help="held-out problems per split and configuration")
    parser.add_argument("--splits", nargs="+", choices=("standard", "hard"),
                        default=["standard", "hard"])
    parser.add_argument("--concurrency", type=int, default=128,
                        help="requests in flight (and the local server's --max-num-seqs): "
                             "on CPU, more sequences a step is more tokens a second")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--dump-dir", type=Path, metavar="DIR",
                        help="also write each configuration's problems, thinking and answers "
                             "here as JSON Lines (distill eval --dump), one file each")
    args = parser.parse_args()
    server = (contextlib.nullcontext(args.base_url) if args.base_url
              else local_server(["--max-model-len", "4096",
                                 "--max-num-seqs", str(args.concurrency)]))
    with server as base_url:
        rows = asyncio.run(run_all(base_url, args.num_problems, args.splits,
                                   args.concurrency, args.dump_dir))
    args.out_dir.mkdir(exist_ok=True)
    (args.out_dir / "budget_eval.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out_dir / "budget_eval.md").write_text(table(rows) + "\n")
    plot(rows, args.out_dir / "budget_eval.png")
    print(table(rows))


if __name__ == "__main__":
    main()
