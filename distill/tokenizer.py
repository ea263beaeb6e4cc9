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

# How numbers are cut into tokens (`build_tokenizer(numbers=...)`):
# - "digits" (the default): one token per digit, as Qwen and LLaMA do.
# - "two-digit": a whole number of exactly two digits (not inside a longer number,
#   not after a decimal point) is one token. Sorting copies whole numbers from the
#   question into the trace: as two digit tokens the model keeps the tens digit and
#   takes the ones digit from a look-alike ("35" came back as "36" beside 66 and
#   76); as one token it copies the number whole (sort-only A/B, 2,000 steps: 70%
#   vs 2% of lists right). In the full task mix it also made carries and borrows
#   single-token facts ("13 - 6 = 6"), and arithmetic fell: see the model card.
# - "lists": a two-digit number is one token only inside a comma-separated list of
#   numbers ("41, 93, 35") or after a decade label ("30s: 35"), which is where
#   sorting copies them; the column arithmetic's sums, carries and restated
#   operands stay one token per digit (the column lines join their operands with
#   "and", not a comma, for this). Chosen by context rather than by task because
#   the tokenizer sees text, not tasks.
_FIRST_ITEM = r"(?<![\d.])\d\d(?=, \d)"
_DECADE_ITEM = r"(?<=0s: )\d\d(?!\d)"
# "list-items" is "lists" with each list item after the first carrying its ", "
# (", 93" one token), so that copying a list is a one-step lookup: the token
# after ", 93" in the question is the next item. With ", " as tokens of their
# own, every item follows the same ", " and the model re-copied an earlier item
# ("41, 93, 35, 93"). GPT-2's word pattern (what ByteLevel splits by) is applied
# after it, with the list item as its first alternative so it stays whole.
NUMBER_RULES = {
    "two-digit": Regex(r"(?<!\d)(?<!\.)\d\d(?!\d)|\d"),
    "lists": Regex(rf"{_FIRST_ITEM}|(?<=\d, )\d\d(?!\d)(?!\.\d)|{_DECADE_ITEM}|\d"),
    "list-items": Regex(rf"(?<=\d), \d\d(?!\d)(?!\.\d)|{_FIRST_ITEM}|{_DECADE_ITEM}|\d"),
}
# GPT-2's word pattern around its letters alternative, shared by both word rules.
_BEFORE_LETTERS = r", \d\d|'s|'t|'re|'ve|'m|'ll|'d"
_AFTER_LETTERS = r"| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
WORDS_KEEPING_LIST_ITEMS = Regex(rf"{_BEFORE_LETTERS}| ?\p{{L}}+{_AFTER_LETTERS}")
NUMBER_MODES = ("digits", *NUMBER_RULES)


def spelling_words_outside(kept_words: Iterable[str]) -> Regex:
    """WORDS_KEEPING_LIST_ITEMS, but a word not in `kept_words` is cut into letters.

    Counting letters walks a word the user typed, letter by letter. As BPE pieces
    ("ch", "er", "ry"; "olle" in volleyball) the model must spell each piece from
    memory, and which pieces it spells wrong moved count by 8-61 points between two
    seeds of one recipe (model card). A letter per token makes each walk line a copy
    from the question. The kept words are the ones the model writes itself, so its
    own traces stay as short as before.
    """
    kept = "|".join(sorted(kept_words, key=len, reverse=True))
    return Regex(rf"{_BEFORE_LETTERS}| ?(?<!\p{{L}})(?:{kept})(?!\p{{L}})| ?\p{{L}}"
                 + _AFTER_LETTERS)

# Like DeepSeek-R1-Distill's template: reasoning in earlier assistant turns is
# dropped, and the generation prompt ends with "<think>\n" so the model's output
# holds only the closing marker. `enable_thinking=false` pre-closes thinking.
# Unlike it, the demo model is shown the conversation from the last user message
# on: it was trained on single questions, and a 2M-parameter model spends its
# capacity on the tasks (multi-turn training data cost 20-30 points, see the model
# card), so system prompts and earlier turns are left out of its prompt.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(start=0) %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.start = loop.index0 %}{%- endif %}"
    "{%- endfor %}"
    "{%- for message in messages[ns.start:] %}"
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


def build_tokenizer(corpus: Iterable[str], vocab_size: int, numbers: str = "digits",
                    kept_words: Iterable[str] | None = None) -> PreTrainedTokenizerFast:
    """Trains a byte-level BPE on `corpus`; chat and think markers are single tokens.

    With `kept_words` (only with numbers="list-items"), any other word is spelled a
    letter per token (`spelling_words_outside`).
    """
    core = Tokenizer(models.BPE())
    if numbers not in NUMBER_MODES:
        raise ValueError(f"numbers must be one of {NUMBER_MODES}, not {numbers!r}")
    if kept_words is not None and numbers != "list-items":
        raise ValueError("kept_words needs numbers='list-items'")
    word_rule = (WORDS_KEEPING_LIST_ITEMS if kept_words is None
                 else spelling_words_outside(kept_words))
    rule = (pre_tokenizers.Split(NUMBER_RULES[numbers], behavior="isolated")
            if numbers in NUMBER_RULES else pre_tokenizers.Digits(individual_digits=True))
    words: list[pre_tokenizers.PreTokenizer] = (
        [pre_tokenizers.Split(word_rule, behavior="isolated"),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        if numbers == "list-items" else [pre_tokenizers.ByteLevel(add_prefix_space=False)])
    core.pre_tokenizer = pre_tokenizers.Sequence([rule, *words])
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
