#!/usr/bin/env bash
# Streams one chat completion with curl: thinking arrives as reasoning_content
# (and reasoning) deltas, the answer as content deltas, then a usage chunk and [DONE].
#   BASE_URL=http://127.0.0.1:8000 API_KEY=... client_examples/stream.sh "What is 457 + 386?"
set -euo pipefail
base_url=${BASE_URL:-http://127.0.0.1:8000}
question=${1:-What is 457 + 386?}
body=$(printf '{"messages": [{"role": "user", "content": "%s"}], "stream": true,
  "stream_options": {"include_usage": true}, "temperature": 0, "max_tokens": 512}' "$question")
curl -sN "$base_url/v1/chat/completions" \
  -H "Content-Type: application/json" \
  -H "Authorization: Bearer ${API_KEY:-none}" \
  -d "$body"
