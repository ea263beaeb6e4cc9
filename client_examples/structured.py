"""Thinks freely, then answers as JSON that matches a schema (`response_format`).

The thinking is unconstrained; only the answer is held to the schema (vLLM's
structured outputs on the answer segment), and it composes with budget forcing.

    python client_examples/structured.py "What is 457 + 386?" --max-thinking-tokens 64 \\
        --base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import json
import os

from openai import OpenAI

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}},
          "required": ["answer"], "additionalProperties": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default="What is 457 + 386?")
    parser.add_argument("--base-url", default=os.environ.get("AHA_BASE_URL",
                                                             "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("AHA_API_KEY", "none"))
    parser.add_argument("--max-thinking-tokens", type=int,
                        help="cap the thinking (budget forcing); the answer stays JSON")
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    model = client.models.list().data[0].id
    budget = {"budget_forcing": {"max_thinking_tokens": args.max_thinking_tokens}} \
        if args.max_thinking_tokens else None
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": args.question}], temperature=0,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "answer", "schema": SCHEMA}},
        extra_body=budget)
    message = response.choices[0].message
    print("=== Thinking ===")
    print((message.model_extra or {}).get("reasoning_content", ""))
    print("=== Answer (JSON) ===")
    print(message.content)
    print("parsed:", json.loads(message.content or "null"))


if __name__ == "__main__":
    main()
