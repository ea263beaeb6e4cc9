"""Supervised fine-tuning on chat records, loss on the assistant's tokens only.

Two uses, one code path: train the demo model from scratch (`--preset demo`,
synthetic teacher data, a tokenizer built here) or fine-tune an existing
checkpoint on converted R1-distill data (`--init PATH --data FILE`).
With `--teacher PATH` the loss mixes in the KL divergence to a teacher's
softened logits (`distill.trainer`).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2Config,
    Qwen2ForCausalLM,
    TrainingArguments,
)

from distill import teacher
from distill.problem import CUT, FORCED, SPLICE, plain
from distill.timebudget import TimeBudget
from distill.tokenizer import build_tokenizer
from distill.trainer import IGNORE_INDEX, DistillTrainer
from distill.words import own_words
from server.prompts import load_tokenizer

MAX_POSITIONS = 4096
NO_THINKING_EVERY = 20  # one example in 20 teaches answering with thinking switched off
# How many checks ("Wait, ...") a trace carries: up to nine, so that eight forced
# waits stay in distribution. Every check after the first opens with a forced "Wait"
# the model is not trained to write, so the stop after any check is always learnt.
ROUNDS_WEIGHTS = {1: 50, 2: 12, 3: 9, 4: 7, 5: 6, 6: 5, 7: 4, 8: 4, 9: 3}
SLIPPED_SHARE = 0.1  # first passes with a planted slip that the next check corrects
# ... or that the first check lets through and a forced second check corrects: what
# a forced "Wait" is for. Read, not learnt, up to the correction (see problem.FORCED).
LATE_SLIP_SHARE = 0.06
# ... or a right first pass and a forced second check that errs, settled by a third
# (count's second walk; see tasks._tie_break).
DISPUTED_SHARE = 0.1
# Compare's forced reread (the whole parts digit by digit) catches a late slip in half
# the traces that carry it and can slip: at 6% the reread agreed with the first pass
# in 5 of 6 traces, and the thirty-eighth run's reread judged "the same" where the
# first pass had, digits read right or not (50 of 64 hard compare errors at 1 wait).
# At half, only the digits predict the reread's verdict.
LATE_SLIP_SHARE_WITH_CHECKS = {"compare": 0.5}
CLOSED_EARLY_SHARE = 0.07  # traces cut and closed as the server closes them at a cap
JSON_SHARE = 0.03  # answers as compact JSON, right after </think>, as a schema forces them

# head_dim 64 everywhere: vLLM's CPU attention rejects smaller heads. The demo's
# MLP is as wide as the model, not the usual 3-4x: at a fixed 28 minutes a narrower
# model sees more examples, and the traces' errors are copies (attention), not
# facts (MLP). On 1,000 held-out problems: MLP 768 77.0%, 384 88.4%, 256 93.2%.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=1,
                 num_key_value_heads=1, intermediate_size=128),
    "demo": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=4, intermediate_size=256),
}


@dataclass(slots=True)
class Example:
    input_ids: list[int]
    labels: list[int]


def encode_chat(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], max_len: int,
    thinking: bool = True,
) -> Example | None:
    """Prompt rendered as at inference; labels only on the last assistant turn.

    With `thinking=False` the prompt is rendered with enable_thinking=False (an
    already closed think block) and the model learns to answer directly.
    """
    if not messages or messages[-1]["role"] != "assistant":
        return None
    kwargs: dict[str, Any] = {} if thinking else {"enable_thinking": False}
    prompt = str(tokenizer.apply_chat_template(
        messages[:-1], add_generation_prompt=True, tokenize=False, **kwargs
    ))
    reply = messages[-1]["content"]
    if not thinking:
        reply = reply.split("</think>")[-1].lstrip()
    # The generation prompt already holds "<think>\n"; the model learns the rest.
    if prompt.endswith("<think>\n") and reply.startswith("<think>\n"):
        reply = reply[len("<think>\n"):]
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    input_ids, labels = list(prompt_ids), [IGNORE_INDEX] * len(prompt_ids)
    # Spliced pieces are tokenized apart, as the server splices token ids; a forced
    # piece is read, not learnt (see distill.problem.FORCED).
    for piece in reply.split(SPLICE):
        forced = piece.startswith(FORCED)
        ids = _piece_ids(tokenizer, piece.removeprefix(FORCED))
        input_ids.extend(ids)
        labels.extend([IGNORE_INDEX] * len(ids) if forced else ids)
    input_ids.append(tokenizer.eos_token_id)
    labels.append(tokenizer.eos_token_id)
    if len(input_ids) > max_len:
        return None
    return Example(input_ids, labels)


def _piece_ids(tokenizer: PreTrainedTokenizerBase, piece: str) -> list[int]:
    """The piece's token ids; a piece cut by a cap (`CUT`) keeps the tokens of the whole
    piece that end before the cut, as the model wrote them before the server cut it."""
    if CUT not in piece:
        return list(tokenizer(piece, add_special_tokens=False)["input_ids"])
    cut_at = piece.index(CUT)
    encoded = tokenizer(piece.replace(CUT, ""), add_special_tokens=False,
                        return_offsets_mapping=True)
    return [token for token, (_, end) in zip(encoded["input_ids"], encoded["offset_mapping"],
                                             strict=True) if end <= cut_at]


class ChatDataset(torch.utils.data.Dataset[dict[str, list[int]]]):
    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        e = self.examples[i]
        return {"input_ids": e.input_ids, "labels": e.labels}


def make_collator(pad_id: int, row_len: int) -> Any:
    """Packs a batch's examples into as few rows of `row_len` tokens as fit.

    Padding each example to the batch's longest wasted 37% of the tokens (the
    tasks' traces run from 70 to 450 tokens). Position ids restart at 0 for each
    packed example and no attention mask is passed, which makes transformers
    build a block-diagonal causal mask: no example attends to its neighbours.
    A neighbour's prompt tokens carry no label, so no loss crosses a boundary.
    """

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        packed: list[tuple[list[int], list[int], list[int]]] = []
        for r in sorted(rows, key=lambda r: -len(r["input_ids"])):
            n = len(r["input_ids"])
            row = next((p for p in packed if len(p[0]) + n <= row_len), None)
            if row is None:
                row = ([], [], [])
                packed.append(row)
            row[0].extend(r["input_ids"])
            row[1].extend(r["labels"])
            row[2].extend(range(n))
        width = max(len(ids) for ids, _, _ in packed)

        def padded(values: list[int], fill: int) -> list[int]:
            return values + [fill] * (width - len(values))

        # Padding counts as one more example (positions from 0), masked off the loss.
        return {
            "input_ids": torch.tensor([padded(ids, pad_id) for ids, _, _ in packed]),
            "labels": torch.tensor([padded(lab, IGNORE_INDEX) for _, lab, _ in packed]),
            "position_ids": torch.tensor(
                [pos + list(range(width - len(pos))) for _, _, pos in packed]),
        }

    return collate


def read_chat_jsonl(path: Path) -> Iterable[list[dict[str, str]]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)["messages"]


def synthetic_chats(count: int, seed: int) -> list[list[dict[str, str]]]:
    """Teacher problems rendered with 1-9 checks, some slipped or disputed, some closed
    at a cap.

    The variants are drawn from their own generator so that the problems stay those
    of `teacher.sample` for the seed.
    """
    from server.budget import DEFAULT_CLOSE_TEXT

    rng = random.Random(f"variants:{seed}")
    rounds, weights = zip(*ROUNDS_WEIGHTS.items(), strict=True)
    chats = []
    for p in teacher.sample("train", count, seed):
        num_rounds = rng.choices(rounds, weights)[0]
        draw = rng.random()
        if draw < CLOSED_EARLY_SHARE and p.task != "chat":
            chats.append(p.closed_early(rng, DEFAULT_CLOSE_TEXT, num_rounds))
        elif (p.confirmed and num_rounds > 1
              and rng.random() < LATE_SLIP_SHARE_WITH_CHECKS.get(p.task, 0.0)):
            chats.append(p.messages(num_rounds, slipped=True, late=True))
        elif p.slip and (draw > 1 - SLIPPED_SHARE or
                         (draw > 1 - SLIPPED_SHARE - LATE_SLIP_SHARE and p.confirmed)):
            late = draw <= 1 - SLIPPED_SHARE
            chats.append(p.messages(max(2, num_rounds) if late else num_rounds,
                                    slipped=True, late=late))
        elif p.disputed and (1 - SLIPPED_SHARE - LATE_SLIP_SHARE - DISPUTED_SHARE < draw
                             <= 1 - SLIPPED_SHARE - LATE_SLIP_SHARE):
            # The band below the slips', so a sum with no carry to slip is disputed no
            # more often than one with a slip.
            chats.append(p.messages(max(2, num_rounds), disputed=True))
        else:
            as_json = p.task != "chat" and rng.random() < JSON_SHARE
            chats.append(p.messages(num_rounds, as_json=as_json))
    return chats


def new_model(tokenizer: PreTrainedTokenizerBase, preset: str) -> Qwen2ForCausalLM:
    settings: dict[str, Any] = dict(
        vocab_size=len(tokenizer),
        # Room for long budget-forced thinking at serving time (RoPE, no learnt positions).
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        rope_theta=10000.0,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="bfloat16",
        # Eager attention trains faster than SDPA on CPU once a padding mask is
        # involved (267 vs 361 ms per step of 16 demo examples, measured here).
        attn_implementation="eager",
        **PRESETS[preset],
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(**settings))


@dataclass(slots=True)
class TrainConfig:
    out_dir: Path
    preset: str = "demo"
    init: Path | None = None
    data: Path | None = None
    teacher: Path | None = None
    num_examples: int = 20000
    vocab_size: int = 1024
    numbers: str = "digits"  # see distill.tokenizer.NUMBER_RULES
    # A saved tokenizer to use instead of building one from the data. The built one
    # moves with the data (a one-line recipe change moved 383 of 1,024 token ids,
    # so the embeddings started elsewhere): compared runs pin one tokenizer.
    tokenizer: Path | None = None
    # Words outside the model's own traces (the words whose letters are counted)
    # spelled a letter per token; see distill.tokenizer.spelling_words_outside.
    spell_words: bool = False
    max_len: int = 512
    epochs: float = 1.0
    max_steps: int = -1
    max_minutes: float | None = None
    batch_size: int = 16
    grad_accum: int = 1
    learning_rate: float = 3e-3
    alpha: float = 0.5
    temperature: float = 2.0
    seed: int = 0
    bf16: bool = True
    compile: bool = True


def fixed_or_built_tokenizer(cfg: TrainConfig,
                             chats: list[list[dict[str, str]]]) -> PreTrainedTokenizerBase:
    if cfg.tokenizer is not None:
        return load_tokenizer(cfg.tokenizer)
    corpus = (plain(m["content"]) for chat in chats for m in chat)
    kept = own_words(chats) if cfg.spell_words else None
    return build_tokenizer(corpus, cfg.vocab_size, cfg.numbers, kept)


def train(cfg: TrainConfig, clock_s: Callable[[], float] = time.monotonic) -> dict[str, float]:
    """Trains and saves the model; `clock_s` is the clock a `max_minutes` budget reads."""
    if cfg.data:
        chats = list(read_chat_jsonl(cfg.data))
    else:
        chats = synthetic_chats(cfg.num_examples, cfg.seed)
    model: PreTrainedModel
    if cfg.init:
        tokenizer = load_tokenizer(cfg.init)
        model = AutoModelForCausalLM.from_pretrained(
            str(cfg.init), dtype=torch.float32, attn_implementation="eager")
    else:
        tokenizer = fixed_or_built_tokenizer(cfg, chats)
        model = new_model(tokenizer, cfg.preset)
    examples = [e for i, chat in enumerate(chats)
                if (e := encode_chat(tokenizer, chat, cfg.max_len,
                                     thinking=i % NO_THINKING_EVERY != NO_THINKING_EVERY - 1))]
    if not examples:
        raise SystemExit("no training example fits --max-len")
    teacher_model = None
    if cfg.teacher:
        teacher_model = AutoModelForCausalLM.from_pretrained(str(cfg.teacher), dtype=torch.float32)
        teacher_model.eval()
    warmup_steps = max(1, min(100, cfg.max_steps // 20 if cfg.max_steps > 0 else 50))
    time_budget = None
    if cfg.max_minutes is not None:
        warmup_steps = 100  # a timed run's length in steps is unknown: the longest warm-up
        time_budget = TimeBudget(cfg.max_minutes * 60, warmup_steps, clock_s)
    args = TrainingArguments(
        output_dir=str(cfg.out_dir / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs,
        # With a time budget the step count is whatever fits; the data is cycled.
        max_steps=cfg.max_steps if time_budget is None else 10**9,
        disable_tqdm=time_budget is not None,  # its bar would count to 10**9 steps
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=warmup_steps,
        weight_decay=0.01,
        logging_steps=50,
        save_strategy="no",
        report_to=[],
        seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        remove_unused_columns=False,
        # bf16 autocast (fp32 master weights): 1.8x the steps per second of fp32 on this
        # machine's AVX512-BF16 CPU, and a lower loss per minute. Not group_by_length:
        # it cut padding but made batches one task each, and the loss fell far slower.
        bf16=cfg.bf16,
        # torch.compile fuses the small elementwise ops that dominate a 3M model on
        # CPU: about 1.3x the steps per second after a one-minute warm-up.
        torch_compile=cfg.compile,
    )
    trainer = DistillTrainer(
        model=model, args=args, train_dataset=ChatDataset(examples),
        data_collator=make_collator(tokenizer.pad_token_id, cfg.max_len),
        teacher_model=teacher_model, alpha=cfg.alpha, temperature=cfg.temperature,
        time_budget=time_budget, callbacks=[time_budget] if time_budget else None,
    )
    result = trainer.train()
    scheduler = trainer.lr_scheduler
    final_lr = float(scheduler.get_last_lr()[0]) if scheduler is not None else cfg.learning_rate
    # Greedy unless a request asks (the server reads do_sample): through the server,
    # held-out accuracy was 97.3% greedy and 90.9% at temperature 1.
    model.generation_config.do_sample = False
    # transformers' decorator on PreTrainedModel.to hides its signature from mypy.
    model.to(torch.bfloat16).save_pretrained(str(cfg.out_dir))  # type: ignore[arg-type]
    tokenizer.save_pretrained(str(cfg.out_dir))
    return {"train_loss": result.training_loss, "steps": result.global_step,
            "train_runtime_s": round(result.metrics["train_runtime"], 1),
            "final_learning_rate": final_lr,
            "examples": len(examples), "perplexity": math.exp(min(result.training_loss, 20))}
