"""Runs N streaming chat completions at once with AsyncOpenAI and prints a summary.

(Not named concurrent.py: run as a script, that name would shadow the standard
library's `concurrent` package, which asyncio imports.)

    python client_examples/concurrent_streams.py --n 8 --base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from openai import AsyncOpenAI

QUESTIONS = ["What is 457 + 386?", "How many r's are in strawberry?",
             "Which is larger, 9.11 or 9.9?", "Sort these numbers: 42, 7, 19, 3"]


async def one(client: AsyncOpenAI, model: str, question: str, max_tokens: int) -> dict[str, object]:
    started = time.perf_counter()
    reasoning, content, usage = [], [], None
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], stream=True,
        stream_options={"include_usage": True}, temperature=0, max_tokens=max_tokens)
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            content.append(choice.delta.content or "")
    return {"question": question, "answer": "".join(content).strip(),
            "reasoning_chars": len("".join(reasoning)),
            "completion_tokens": usage.completion_tokens if usage else None,
            "seconds": round(time.perf_counter() - started, 3)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8, help="concurrent streams")
    parser.add_argument("--base-url", default=os.environ.get("AHA_BASE_URL",
                                                             "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("AHA_API_KEY", "none"))
    parser.add_argument("--max-tokens", type=int, default=512)
    args = parser.parse_args()
    client = AsyncOpenAI(base_url=args.base_url, api_key=args.api_key)
    model = (await client.models.list()).data[0].id
    started = time.perf_counter()
    results = await asyncio.gather(*(one(client, model, QUESTIONS[i % len(QUESTIONS)],
                                         args.max_tokens) for i in range(args.n)))
    for r in results:
        print(r)
    tokens = sum(int(r["completion_tokens"] or 0) for r in results)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - started
    print(f"{args.n} streams, {tokens} completion tokens in {elapsed:.2f} s "
          f"({tokens / elapsed:.0f} tokens/s)")


if __name__ == "__main__":
    asyncio.run(main())
