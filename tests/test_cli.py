"""The entry point: --help, and one clear line (no traceback) for bad start-up input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def run_server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_help_lists_every_flag() -> None:
    result = run_server("--help")
    assert result.returncode == 0
    for flag in ("--model", "--served-model-name", "--host", "--port", "--api-key", "--dtype",
                 "--max-model-len", "--tensor-parallel-size", "--quantization",
                 "--gpu-memory-utilization", "--enable-prefix-caching", "--enforce-eager",
                 "--engine-args", "--think-start", "--think-end", "--reasoning-field"):
        assert flag in result.stdout
    assert "AHA_" in result.stdout


@pytest.mark.parametrize(("args", "words"), [
    (["--bogus", "1"], "unrecognized arguments: --bogus"),
    (["--model", "/no/such/model"], "--model: no model at /no/such/model"),
    (["--port", "eighty"], "--port"),
    (["--reasoning-field", "thoughts"], "reasoning-field"),
    (["--engine-args", "[1, 2]"], "--engine-args"),
])
def test_bad_start_up_input_fails_in_one_line(args: list[str], words: str) -> None:
    result = run_server(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert words in lines[0]


def test_console_script_is_installed() -> None:
    result = subprocess.run([str(REPO / ".venv" / "bin" / "aha"), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "--model" in result.stdout
