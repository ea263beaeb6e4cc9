"""Presets, Dockerfiles and Kubernetes manifests are valid (no GPU or Docker needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from server.__main__ import load_settings
from server.presets import PRESET_DIR, preset_names, preset_values
from server.service import sampling_defaults
from tests.conftest import REPO

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_and_gpu_validates(name: str, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")  # the model itself need not be present
    preset = json.loads((PRESET_DIR / f"{name}.json").read_text())
    assert preset["description"] and preset["checkpoint"]
    for gpu in preset["gpus"]:
        values = preset_values(name, gpu)
        settings = load_settings(["--preset", name, "--gpu", gpu, "--model", str(tmp_path)])
        for key, value in values.items():
            if key != "model":
                assert getattr(settings, key) == value, (name, gpu, key)
        assert settings.think_start in (None, "<think>")


def test_flags_override_a_preset(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    settings = load_settings(["--preset", "deepseek-r1-distill-qwen-32b-w8a8", "--gpu", "h200",
                              "--model", str(tmp_path), "--max-model-len", "8192"])
    assert settings.max_model_len == 8192 and settings.default_temperature == 0.6
    assert settings.tensor_parallel_size == 1 and settings.max_num_seqs == 128


def test_dockerfiles_pass_hadolint() -> None:
    result = subprocess.run([str(BIN / "hadolint"), "Dockerfile", "Dockerfile.cpu"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("Dockerfile", "Dockerfile.cpu"):
        text = (REPO / name).read_text()
        assert "HEALTHCHECK" in text and "/health" in text and "USER 1000" in text
        assert 'VOLUME ["/models"]' in text


def test_kubernetes_manifests_validate() -> None:
    manifests = sorted(str(p) for p in (REPO / "launch" / "k8s").glob("*.yaml"))
    result = subprocess.run([str(BIN / "kubernetes-validate"), "-k", "1.30.0", "--strict",
                             *manifests], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    deployment = (REPO / "launch" / "k8s" / "deployment.yaml").read_text()
    assert "readinessProbe" in deployment and "path: /health" in deployment


def test_unset_sampling_fields_take_the_flag_then_the_model_then_neutral(
        tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    settings = load_settings(["--model", str(tmp_path), "--default-top-p", "0.9"])
    from_model = {"temperature": 0.6, "top_p": 0.95, "top_k": 20}  # a model's file, say
    defaults = sampling_defaults(settings, from_model)
    assert defaults["temperature"] == 0.6 and defaults["top_p"] == 0.9
    assert defaults["top_k"] == 20 and defaults["min_p"] == 0
    assert defaults["repetition_penalty"] == 1
    assert sampling_defaults(settings, {})["temperature"] == 1.0
