"""launch/observability/: alert rules pass promtool's tests; the dashboard uses live series."""

from __future__ import annotations

import json
import re
import subprocess

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, RunningServer

OBS = REPO / "launch" / "observability"
NAME_RE = re.compile(r"\b(aha_[a-z_]+|vllm:[a-z_:]+)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=OBS, capture_output=True, text=True,
                          timeout=60)


def test_alert_rules_check_and_unit_tests_pass() -> None:
    assert promtool("check", "rules", "alerts.yml").returncode == 0
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert promtool("check", "config", "prometheus.yml").returncode == 0


def test_dashboard_queries_only_series_the_server_exports(server: RunningServer) -> None:
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    used = {name for expr in exprs for name in NAME_RE.findall(expr)}
    assert len(used) >= 10
    assert used <= exported, used - exported
