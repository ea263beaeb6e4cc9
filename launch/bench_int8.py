"""Decode speed of W8A8 int8 vs bf16 on a model large enough for matrix work to dominate.

Builds a random-weight Qwen2 model (default hidden 2048, 8 layers: ~375M parameters),
quantises it with launch/quantize.py, serves each in turn with Aha and runs the load
generator at each concurrency; prints output tokens/s and the int8/bf16 ratio.

    python launch/bench_int8.py --concurrency 1 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from launch.serve_local import REPO, load_test, local_server


def throughput(base_url: str, concurrency: int, num_requests: int, max_tokens: int) -> float:
    run = load_test(base_url, concurrency, num_requests, max_tokens,
                    "--extra-body", '{"ignore_eos": true}')
    return float(run["output_throughput"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    p.add_argument("--num-requests", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=64)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aha-int8-bench-"))
    bf16, int8 = work / "bf16", work / "int8"
    subprocess.run([sys.executable, str(REPO / "launch" / "make_random_model.py"), "--out",
                    str(bf16), "--hidden", str(args.hidden), "--layers", str(args.layers)],
                   check=True)
    subprocess.run([sys.executable, str(REPO / "launch" / "quantize.py"), str(bf16), str(int8)],
                   check=True)
    results: dict[str, dict[int, float]] = {}
    for name, model in (("bf16", bf16), ("int8", int8)):
        with local_server(["--model", str(model), "--max-model-len", "1024"]) as url:
            results[name] = {c: throughput(url, c, args.num_requests, args.max_tokens)
                             for c in args.concurrency}
    rows = [{"concurrency": c, "bf16_tokens_per_s": results["bf16"][c],
             "int8_tokens_per_s": results["int8"][c],
             "int8_over_bf16": round(results["int8"][c] / results["bf16"][c], 3)}
            for c in args.concurrency]
    print(json.dumps({"hidden": args.hidden, "layers": args.layers, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
