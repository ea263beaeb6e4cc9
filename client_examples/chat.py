"""Interactive multi-turn chat with a reasoning model served by Aha.

Streams the model's thinking, then "=== Final Answer ===", then the answer.
The conversation keeps a system prompt (`--system`) and the whole history; the
answer (never the thinking) goes back into the history, as R1-style models
expect. Type exit, quit or bye to leave. `--single-turn` asks each question
afresh, without the earlier turns.

    python client_examples/chat.py --base-url http://127.0.0.1:8000/v1 \
        --system "You are a helpful assistant."
"""

from __future__ import annotations

import argparse
import os
import sys

from openai import OpenAI

EXIT_WORDS = {"exit", "quit", "bye"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=os.environ.get("AHA_BASE_URL",
                                                             "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("AHA_API_KEY", "none"))
    parser.add_argument("--model", default=None, help="default: the server's first model")
    parser.add_argument("--temperature", type=float, default=0.6)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--system", default="You are a helpful assistant.",
                        help="system prompt at the head of the conversation ('' for none; "
                             "default: %(default)r)")
    parser.add_argument("--single-turn", action="store_true",
                        help="send each question without the earlier turns")
    return parser.parse_args()


def reasoning_of(delta: object) -> str:
    # DeepSeek/SGLang call it reasoning_content, vLLM >= 0.16 reasoning.
    return getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None) or ""


def ask(client: OpenAI, model: str, history: list[dict[str, str]], args: argparse.Namespace) -> str:
    stream = client.chat.completions.create(
        model=model, messages=history, stream=True, temperature=args.temperature,
        max_tokens=args.max_tokens,
    )
    answer: list[str] = []
    thinking = False
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if text := reasoning_of(delta):
            if not thinking:
                print("=== Thinking ===", flush=True)
                thinking = True
            print(text, end="", flush=True)
        if delta.content:
            if not answer:
                print("\n=== Final Answer ===", flush=True)
            answer.append(delta.content)
            print(delta.content, end="", flush=True)
    print()
    return "".join(answer)


def main() -> None:
    args = parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    model = args.model or client.models.list().data[0].id
    system = [{"role": "system", "content": args.system}] if args.system else []
    history: list[dict[str, str]] = [*system]
    while True:
        try:
            question = input("\nYou: ").strip()
        except EOFError:
            break
        if question.lower() in EXIT_WORDS:
            break
        if not question:
            continue
        if args.single_turn:
            history[:] = system
        history.append({"role": "user", "content": question})
        history.append({"role": "assistant", "content": ask(client, model, history, args)})
    print("bye", file=sys.stderr)


if __name__ == "__main__":
    main()
