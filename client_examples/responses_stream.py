"""Streams one answer through the OpenAI Responses API (`client.responses.stream`).

Thinking arrives as `response.reasoning_text.delta` events of a `reasoning` output
item, the answer as `response.output_text.delta` events of a `message` item.

    python client_examples/responses_stream.py "What is 457 + 386?" \\
        --base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import os

from openai import OpenAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default="What is 457 + 386?")
    parser.add_argument("--base-url", default=os.environ.get("AHA_BASE_URL",
                                                             "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("AHA_API_KEY", "none"))
    parser.add_argument("--effort", choices=("none", "minimal", "low", "medium", "high"),
                        help="reasoning.effort: maps to the server's thinking budgets")
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    model = client.models.list().data[0].id
    reasoning = {"effort": args.effort} if args.effort else None
    with client.responses.stream(model=model, input=args.question, temperature=0,
                                 reasoning=reasoning) as stream:  # type: ignore[arg-type]
        for event in stream:
            if event.type == "response.output_item.added":
                print(f"=== {event.item.type} ===", flush=True)
            elif event.type in ("response.reasoning_text.delta", "response.output_text.delta"):
                print(event.delta, end="", flush=True)
            elif event.type == "response.output_item.done":
                print(flush=True)
        final = stream.get_final_response()
    usage = final.usage
    if usage is not None:
        print(f"[{final.status}: {usage.output_tokens} output tokens, "
              f"{usage.output_tokens_details.reasoning_tokens} of them thinking]")


if __name__ == "__main__":
    main()
