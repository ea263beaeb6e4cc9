"""Writes a random-weight Qwen2 model with the demo model's tokenizer.

For benchmarks where the engine, not the HTTP layer, should dominate:
    python launch/make_random_model.py --out /tmp/wide-random --hidden 1024 --layers 8
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from server.prompts import load_tokenizer

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--tokenizer", type=Path, default=REPO / "models" / "aha-demo")
    args = p.parse_args()
    tokenizer = load_tokenizer(args.tokenizer)
    heads = args.hidden // 64  # head_dim 64: vLLM's CPU attention needs at least that
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=args.hidden,
                         num_hidden_layers=args.layers, num_attention_heads=heads,
                         num_key_value_heads=max(1, heads // 4),
                         intermediate_size=args.hidden * 3, max_position_embeddings=4096,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, torch_dtype="bfloat16")
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(str(args.out))
    tokenizer.save_pretrained(str(args.out))
    for extra in ("chat_template.jinja",):
        if (args.tokenizer / extra).exists():
            shutil.copy(args.tokenizer / extra, args.out / extra)
    params = sum(p.numel() for p in Qwen2ForCausalLM(config).parameters())
    print(f"wrote {args.out}: {params / 1e6:.0f}M parameters")


if __name__ == "__main__":
    main()
