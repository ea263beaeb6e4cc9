"""python -m distill {convert,generate,train,eval}: the distillation pipeline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from distill.teacher import SPLITS
from distill.tokenizer import NUMBER_MODES


def _convert(args: argparse.Namespace) -> None:
    from distill.convert import Filters, convert_file

    count_tokens = None
    if args.max_tokens is not None:
        from server.prompts import load_tokenizer

        tokenizer = load_tokenizer(Path(args.tokenizer))
        count_tokens = lambda text: len(tokenizer.encode(text))  # noqa: E731
    filters = Filters(args.min_score, args.max_tokens, count_tokens)
    report = convert_file(args.src, args.dst, filters)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))


def _generate(args: argparse.Namespace) -> None:
    from distill import teacher
    from distill.problem import plain

    with args.out.open("w", encoding="utf-8") as out:
        for problem in teacher.sample(args.split, args.count, args.seed):
            messages = [{**m, "content": plain(m["content"])}
                        for m in problem.messages()]
            out.write(json.dumps({"messages": messages, "task": problem.task}) + "\n")
    print(f"wrote {args.count} {args.split} problems to {args.out}")


def _train(args: argparse.Namespace) -> None:
    if args.tokenizer and (args.init or args.numbers):
        sys.exit("--tokenizer takes a saved tokenizer as it is: leave out "
                 + ("--init (which brings its own)" if args.init else "--numbers"))
    if args.spell_words and (args.tokenizer or args.init or args.numbers != "list-items"):
        sys.exit("--spell-words builds a new tokenizer: give it with --numbers list-items, "
                 "not with --tokenizer or --init")
    if args.tokenizer and not (args.tokenizer / "tokenizer.json").is_file():
        sys.exit(f"--tokenizer {args.tokenizer}: no tokenizer.json there")
    from distill.train import TrainConfig, train

    cfg = TrainConfig(
        out_dir=args.out, preset=args.preset, init=args.init, data=args.data,
        teacher=args.teacher, num_examples=args.num_examples, max_steps=args.max_steps,
        max_minutes=args.max_minutes, numbers=args.numbers or "digits", tokenizer=args.tokenizer,
        spell_words=args.spell_words,
        epochs=args.epochs, batch_size=args.batch_size, grad_accum=args.grad_accum,
        learning_rate=args.lr,
        alpha=args.alpha, temperature=args.temperature, seed=args.seed, max_len=args.max_len,
        bf16=not args.fp32, compile=not args.no_compile,
    )
    print(json.dumps(train(cfg), indent=2))


def _eval(args: argparse.Namespace) -> None:
    import openai

    from distill.evaluate import Conversation, evaluate

    conversation = Conversation(args.system_prompt, args.history)
    try:
        result = asyncio.run(evaluate(args.base_url, args.api_key, args.num_problems,
                                      args.seed, args.extra_body, args.concurrency,
                                      args.max_tokens, args.split, conversation,
                                      args.dump))
    except openai.APIStatusError as err:
        # A request the server refuses is refused for every problem alike (a budget that
        # does not fit --max-tokens, a wrong key): say why once, not with a traceback.
        raise SystemExit(f"distill eval: the server refused a request: {err.message}") \
            from None
    except openai.APIConnectionError as err:
        raise SystemExit(f"distill eval: cannot reach {args.base_url}: {err}") from None
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def _json_object(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m distill", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="R1-distill JSONL -> chat-format JSONL, with a skip report")
    c.add_argument("src", type=Path)
    c.add_argument("dst", type=Path)
    c.add_argument("--min-score", type=float, help="keep rows whose `score` is at least this")
    c.add_argument("--max-tokens", type=int,
                   help="drop records longer than this many tokens (see --tokenizer)")
    c.add_argument("--tokenizer", default="models/aha-demo", help="tokenizer for --max-tokens")
    c.set_defaults(func=_convert)

    g = sub.add_parser("generate", help="write synthetic teacher traces as chat JSONL")
    g.add_argument("out", type=Path)
    g.add_argument("--split", choices=("train", "test"), default="train")
    g.add_argument("--count", type=int, default=1000)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=_generate)

    t = sub.add_parser("train", help="SFT (optionally with logit distillation from --teacher)")
    t.add_argument("--out", type=Path, required=True, help="where the model is written")
    t.add_argument("--preset", choices=("tiny", "demo"), default="demo",
                   help="architecture when training from scratch")
    t.add_argument("--init", type=Path, help="fine-tune this checkpoint instead of a new model")
    t.add_argument("--data", type=Path, help="chat JSONL (default: synthetic teacher data)")
    t.add_argument("--teacher", type=Path, help="teacher model for logit distillation")
    t.add_argument("--num-examples", type=int, default=170000,
                   help="synthetic examples (default: 170000, the demo recipe)")
    t.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps")
    t.add_argument("--max-minutes", type=_positive,
                   help="train for this many minutes of wall-clock time instead of a step "
                        "count: the cosine learning-rate decay runs over elapsed time and "
                        "training stops when it is spent (data building not counted)")
    t.add_argument("--tokenizer", type=Path, metavar="DIR",
                   help="use the tokenizer saved in DIR (tokenizer.json, e.g. models/aha-demo) "
                        "instead of building one from the training data; the built one moves "
                        "with the data, so runs that compare recipes should pin one")
    t.add_argument("--numbers", choices=NUMBER_MODES,
                   help="how the new tokenizer cuts numbers: 'digits', one token per digit "
                        "(default); 'two-digit', every whole two-digit number one token "
                        "(sorts far better, adds and subtracts worse); 'lists', a two-digit "
                        "number one token only inside a comma-separated list or after a "
                        "decade label ('30s: 35'), digits everywhere else; 'list-items', "
                        "as 'lists' with each later list item one token with its comma "
                        "(', 93')")
    t.add_argument("--spell-words", action="store_true",
                   help="with --numbers list-items: the new tokenizer cuts every word the "
                        "training traces do not write themselves (the words whose letters "
                        "are counted, any word a user types) into one token per letter, "
                        "so counting copies letters instead of spelling BPE pieces")
    t.add_argument("--epochs", type=float, default=1.0)
    t.add_argument("--batch-size", type=int, default=16,
                   help="examples per step, packed into rows of --max-len tokens")
    t.add_argument("--grad-accum", type=int, default=1,
                   help="gradient accumulation steps (effective batch = batch size x this)")
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--alpha", type=float, default=0.5, help="weight of the hard-label loss")
    t.add_argument("--temperature", type=float, default=2.0, help="softening temperature T")
    t.add_argument("--max-len", type=int, default=512,
                   help="longest example (and packed row) in tokens")
    t.add_argument("--seed", type=int, default=0,
                   help="seeds the synthetic data and its order; results move with it by "
                        "several points (an earlier demo recipe: 88.4%% at seed 0, 72.7%% at "
                        "seed 1; see the model card's 'Seeds')")
    t.add_argument("--fp32", action="store_true",
                   help="train in fp32 (default: bf16 autocast with fp32 master weights, 1.8x "
                        "the steps/s of fp32 on an AVX512-BF16 CPU; needs bf16 support)")
    t.add_argument("--no-compile", action="store_true",
                   help="skip torch.compile (default: compiled, about 1.3x the steps/s on CPU "
                        "after a one-minute warm-up; switch off for a few-step run)")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="held-out accuracy through a running server")
    e.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    e.add_argument("--api-key", default="none")
    e.add_argument("--num-problems", type=int, default=200)
    e.add_argument("--seed", type=int, default=1234)
    e.add_argument("--concurrency", type=int, default=8)
    e.add_argument("--max-tokens", type=int, default=1024,
                   help="per request; forced thinking must fit in it, e.g. 3000 for "
                        "budget_forcing.min_thinking_tokens 2000")
    e.add_argument("--extra-body", type=_json_object, metavar="JSON",
                   help="JSON object merged into each request, e.g. "
                        "'{\"budget_forcing\": {\"min_thinking_tokens\": 2000, \"max_waits\": 1}}'")
    e.add_argument("--split", choices=SPLITS, default="standard",
                   help="held-out problems: 'standard' (drawn like the training data), "
                        "'hard' (carries in two or more columns, doubled letters, two-digit "
                        "whole parts one apart that decide against the tenths, five numbers "
                        "three of them in one decade) or "
                        "'short' (additions and subtractions with a one-digit operand)")
    e.add_argument("--system-prompt", metavar="TEXT",
                   help="put this system prompt before each question")
    e.add_argument("--history", type=int, default=0, metavar="N",
                   help="put N earlier turns (other problems, answered) before each question")
    e.add_argument("--out", type=Path, help="also write the JSON result here")
    e.add_argument("--dump", type=Path, metavar="FILE",
                   help="write every problem (question, thinking, answer, whether it is "
                        "right) here as JSON Lines, to read what the model got wrong")
    e.set_defaults(func=_eval)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    args.func(args)


if __name__ == "__main__":
    main()
