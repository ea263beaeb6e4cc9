"""The environment the install step leaves behind is one that works."""

from __future__ import annotations

import importlib.util


def test_imports_vllm_transformers_qwen2_and_the_server() -> None:
    import vllm
    from transformers import Qwen2ForCausalLM

    import server.app

    assert vllm.__version__.startswith("0.32")
    assert Qwen2ForCausalLM.__name__ == "Qwen2ForCausalLM"
    assert callable(server.app.create_app)


def test_conflicting_torch_extensions_are_gone() -> None:
    for name in ("torchvision", "torchaudio", "torchcodec"):
        assert importlib.util.find_spec(name) is None, f"{name} breaks transformers' model imports"


def test_importing_the_server_loads_no_engine() -> None:
    import subprocess
    import sys

    code = "import sys, server.app; print('vllm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
