"""The demo model quantised to W8A8 int8 with launch/quantize.py, served by Aha on CPU."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from safetensors import safe_open

from distill.evaluate import evaluate
from tests.conftest import API_KEY, REPO, RunningServer, start_server, stop_server

NUM_PROBLEMS = 200
DEFAULT_CAP = 1000


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("int8") / "aha-demo-w8a8"
    subprocess.run([sys.executable, "launch/quantize.py", "models/aha-demo", str(out)],
                   cwd=REPO, check=True, timeout=300, capture_output=True)
    return out


@pytest.fixture(scope="module")
def int8_server(int8_model: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("int8-server") / "server.log"
    # A server default budget too (a cap far above the demo's thinking): the accuracy
    # test also shows that a cap that never binds changes nothing.
    running = start_server(["--model", str(int8_model), "--budget-max-thinking-tokens",
                            str(DEFAULT_CAP)], log_path)
    yield running
    stop_server(running)


def test_checkpoint_is_w8a8_compressed_tensors(int8_model: Path) -> None:
    config = json.loads((int8_model / "config.json").read_text())
    quant = config["quantization_config"]
    assert quant["quant_method"] == "compressed-tensors" and quant["ignore"] == ["lm_head"]
    group = quant["config_groups"]["group_0"]
    assert group["weights"]["strategy"] == "channel" and group["weights"]["num_bits"] == 8
    activations = group["input_activations"]
    assert activations["dynamic"] and activations["strategy"] == "token"
    with safe_open(str(int8_model / "model.safetensors"), "pt") as f:
        weight = f.get_tensor("model.layers.0.mlp.down_proj.weight")
        scale = f.get_tensor("model.layers.0.mlp.down_proj.weight_scale")
    assert str(weight.dtype) == "torch.int8" and scale.shape == (weight.shape[0], 1)


@pytest.mark.timeout(1200)  # 400 requests: a hang guard that holds on a busy machine too
def test_int8_accuracy_within_two_points_of_bf16(server: RunningServer,
                                                  int8_server: RunningServer) -> None:
    bf16 = asyncio.run(evaluate(server.v1, API_KEY, NUM_PROBLEMS))
    int8 = asyncio.run(evaluate(int8_server.v1, "none", NUM_PROBLEMS))
    print(json.dumps({"bf16": bf16["accuracy"], "int8": int8["accuracy"]}))
    assert int8["accuracy"] >= bf16["accuracy"] - 0.02, (bf16, int8)
    assert int8["share_with_reasoning_and_content"] >= 0.95
    assert "CPUInt8ScaledMMLinearKernel" in int8_server.log()


def test_a_server_default_budget_yields_where_it_cannot_apply(int8_server: RunningServer) -> None:
    def usage(**fields: object) -> dict[str, object]:
        body = {"messages": [{"role": "user", "content": "What is 12 + 34?"}],
                "temperature": 0, **fields}
        response = httpx.post(f"{int8_server.v1}/chat/completions", json=body, timeout=120)
        assert response.status_code == 200, response.text
        return dict(response.json()["usage"])

    assert usage()["budget_forcing"] == {"waits_inserted": 0, "forced_closes": 0,
                                         "thinking_tokens": usage()["completion_tokens_details"][
                                             "reasoning_tokens"]}
    # Thinking switched off by the template: the default is dropped, not a 400.
    off = usage(chat_template_kwargs={"enable_thinking": False})
    assert "budget_forcing" not in off and off["completion_tokens_details"] == {
        "reasoning_tokens": 0}
    assert "budget_forcing" not in usage(thinking_token_budget=-1)  # explicit "unlimited"
