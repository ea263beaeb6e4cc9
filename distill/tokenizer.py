"""Builds the demo model's byte-level BPE tokenizer and R1-style chat template."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

END_OF_TEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK_START = "<think>"
THINK_END = "</think>"

# With `two_digit_numbers`, a whole number of exactly two digits (not inside a
# longer number, not the digits after a decimal point) is one token; every other
# digit is a token of its own. Sorting copies whole numbers from the question into
# the trace: as two digit tokens the model keeps the tens digit and takes the ones
# digit from a look-alike number ("35" came back as "36" beside 66 and 76); as one
# token it copies the number whole (sort-only A/B, 2,000 steps: 70% vs 2% of lists
# right). In the full task mix it also made borrows and carries single-token facts
# ("13 - 6 = 6"), and arithmetic fell: see the model card. Off by default.
TWO_DIGIT_NUMBERS = Regex(r"(?<!\d)(?<!\.)\d\d(?!\d)|\d")

# Like DeepSeek-R1-Distill's template: reasoning in earlier assistant turns is
# dropped, and the generation prompt ends with "<think>\n" so the model's output
# holds only the closing marker. `enable_thinking=false` pre-closes thinking.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- set content = message['content'] %}"
    "{%- if message['role'] == 'assistant' and '</think>' in content %}"
    "{%- set content = content.split('</think>')[-1].lstrip() %}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{%- if enable_thinking is defined and not enable_thinking %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>assistant\\n<think>\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)


def build_tokenizer(corpus: Iterable[str], vocab_size: int,
                    two_digit_numbers: bool = False) -> PreTrainedTokenizerFast:
    """Trains a byte-level BPE on `corpus`; chat and think markers are single tokens."""
    core = Tokenizer(models.BPE())
    # By default one token per digit, as Qwen and LLaMA do: the demo model learns
    # arithmetic and copying numbers digit by digit.
    numbers = (pre_tokenizers.Split(TWO_DIGIT_NUMBERS, behavior="isolated")
               if two_digit_numbers else pre_tokenizers.Digits(individual_digits=True))
    core.pre_tokenizer = pre_tokenizers.Sequence([
        numbers,
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        bos_token=None,
    )
    # Not "special": like R1's tokenizer, the think markers survive
    # skip_special_tokens so servers can split on them.
    tokenizer.add_tokens([THINK_START, THINK_END], special_tokens=False)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir: Path) -> None:
    tokenizer.save_pretrained(str(out_dir))
