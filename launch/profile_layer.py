"""CPU time the HTTP/API layer spends per streamed token, Aha vs vLLM's server.

Starts each server, runs the load generator at high concurrency, and divides the
API-server process's CPU time (the EngineCore child excluded) by the output tokens.
With --py-spy, also samples Aha's API process during the run and prints the
functions that dominate it.

    python launch/profile_layer.py --concurrency 64 --num-requests 256 --py-spy
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from launch.bench_compare import vllm_server
from launch.serve_local import REPO, load_test, local_server
from server.settings import DEFAULT_MODEL


def api_process(base_url: str) -> psutil.Process:
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run_load(base_url: str, args: argparse.Namespace) -> dict[str, object]:
    return load_test(base_url, args.concurrency, args.num_requests, args.max_tokens)


def profile(base_url: str, label: str, args: argparse.Namespace) -> dict[str, object]:
    process = api_process(base_url)
    run_load(base_url, args)  # warm-up
    before = cpu_s(process)
    spy = None
    if args.py_spy and label == "aha":
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                str(process.pid), "--format", "raw", "--output",
                                str(args.out_dir / "aha-py-spy.txt"), "--duration", "20",
                                "--rate", "200", "--nonblocking"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    result = run_load(base_url, args)
    used = cpu_s(process) - before
    if spy is not None:
        spy.wait(timeout=120)
    tokens = int(result["total_output_tokens"])  # type: ignore[call-overload]
    return {"label": label, "api_cpu_s": round(used, 2), "output_tokens": tokens,
            "api_cpu_us_per_token": round(1e6 * used / tokens, 1),
            "output_throughput": result["output_throughput"]}


def _frame_name(frame: str) -> str:
    """'func (path/to/file.py:12)' -> 'func (file.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else name


def top_functions(raw: Path, limit: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Shares of samples: inclusive (on the stack) and self (the leaf frame)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        samples = int(n)
        total += samples
        frames = [_frame_name(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    return {kind: [(f, round(c / total, 3)) for f, c in counts.most_common(limit)]
            for kind, counts in (("inclusive", inclusive), ("self", own))} if total else {}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--num-requests", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--py-spy", action="store_true")
    p.add_argument("--out-dir", type=Path, default=REPO / "docs" / "bench")
    args = p.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    engine = ["--max-num-seqs", "64", "--max-model-len", "4096"]
    rows = []
    with local_server(["--model", str(args.model), *engine]) as url:
        rows.append(profile(url, "aha", args))
    with vllm_server(args.model, engine, args.out_dir / "profile-vllm.log") as url:
        rows.append(profile(url, "vllm", args))
    print(json.dumps(rows, indent=2))
    raw = args.out_dir / "aha-py-spy.txt"
    if args.py_spy and raw.exists():
        for kind, rows in top_functions(raw).items():
            print(f"-- {kind} --")
            for name, share in rows:
                print(f"{share:6.1%}  {name}")


if __name__ == "__main__":
    main()
