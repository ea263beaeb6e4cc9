"""Our Prometheus series (prefix `aha_`) and the per-request JSON log line.

vLLM's own `vllm:*` series come from its PrometheusStatLogger, which the
in-process engine registers in the same default registry: /metrics serves both.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from server.errors import ENDPOINTS, AhaError, ClientGone
from server.generation import ChoiceEvent, Usage

request_log = logging.getLogger("aha.requests")

# 10 ms ... 10 min: a reasoning model's answer can start minutes after the request.
TIME_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0,
                  160.0, 320.0, 600.0)
TOKEN_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


@dataclass(slots=True)
class RequestRecord:
    """What one request did, for its metrics and its log line."""

    request_id: str
    endpoint: str
    stream: bool
    started_s: float = field(default_factory=time.perf_counter)
    first_token_s: float | None = None
    first_reasoning_s: float | None = None
    first_content_s: float | None = None
    finish_reasons: list[str] = field(default_factory=list)
    outcome: str = "ok"
    status: int = 200

    def on_event(self, event: ChoiceEvent) -> None:
        now = time.perf_counter()
        if event.reasoning and self.first_reasoning_s is None:
            self.first_reasoning_s = now - self.started_s
        if event.content and self.first_content_s is None:
            self.first_content_s = now - self.started_s
        if (event.reasoning or event.content) and self.first_token_s is None:
            self.first_token_s = now - self.started_s
        if event.finish_reason is not None:
            self.finish_reasons.append(event.finish_reason)

    def on_error(self, exc: BaseException) -> None:
        if isinstance(exc, ClientGone | GeneratorExit) or not isinstance(exc, Exception):
            self.outcome, self.status = "aborted", 499
        elif isinstance(exc, AhaError) and exc.status_code < 500:
            self.outcome, self.status = "client_error", exc.status_code
        else:
            self.outcome = "server_error"
            self.status = exc.status_code if isinstance(exc, AhaError) else 500


class QueueState(Protocol):
    num_running: int
    num_waiting: int


class Metrics:
    def __init__(self, model_name: str, queue: QueueState | None = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        self.model_name = model_name
        labels = ["model_name"]
        self.time_to_first_reasoning = Histogram(
            "aha_time_to_first_reasoning_token_seconds",
            "Seconds from request arrival to the first thinking token.", labels,
            buckets=TIME_BUCKETS_S, registry=registry)
        self.time_to_first_content = Histogram(
            "aha_time_to_first_content_token_seconds",
            "Seconds from request arrival to the first answer (content) token.", labels,
            buckets=TIME_BUCKETS_S, registry=registry)
        self.reasoning_tokens = Histogram(
            "aha_request_reasoning_tokens", "Thinking tokens per request (inserted included).",
            labels, buckets=TOKEN_BUCKETS, registry=registry)
        self.answer_tokens = Histogram(
            "aha_request_answer_tokens", "Answer tokens per request.", labels,
            buckets=TOKEN_BUCKETS, registry=registry)
        self.waits = Counter("aha_budget_waits_inserted",
                             "Wait texts inserted by budget forcing.", labels, registry=registry)
        self.forced_closes = Counter("aha_budget_forced_closes",
                                     "Thinking blocks closed by budget forcing.", labels,
                                     registry=registry)
        self.requests = Counter("aha_requests", "Finished requests.",
                                [*labels, "endpoint", "stream", "outcome"], registry=registry)
        self.in_flight = Gauge("aha_requests_in_flight", "Requests being served.", labels,
                               registry=registry)
        self.disconnects = Counter("aha_client_disconnects",
                                   "Clients that left before their answer was complete.",
                                   labels, registry=registry)
        self.shed_requests = Counter(
            "aha_requests_shed", "Requests refused by a limit before they ran (reason: "
            "rate_limit_exceeded, request_too_large, server_draining).",
            [*labels, "reason"], registry=registry)
        waiting = Gauge("aha_requests_waiting", "Requests waiting for a slot "
                        "(--max-concurrent-requests).", labels, registry=registry)
        if queue is not None:
            waiting.labels(model_name).set_function(lambda: queue.num_waiting)

    def started(self) -> None:
        self.in_flight.labels(self.model_name).inc()

    def finished(self, record: RequestRecord, usage: Usage | None) -> None:
        model = self.model_name
        self.in_flight.labels(model).dec()
        self.requests.labels(model, record.endpoint, str(record.stream).lower(),
                             record.outcome).inc()
        if record.outcome == "aborted":
            self.disconnects.labels(model).inc()
        if record.first_reasoning_s is not None:
            self.time_to_first_reasoning.labels(model).observe(record.first_reasoning_s)
        if record.first_content_s is not None:
            self.time_to_first_content.labels(model).observe(record.first_content_s)
        if usage is not None:
            self.reasoning_tokens.labels(model).observe(usage.reasoning_tokens)
            self.answer_tokens.labels(model).observe(usage.completion_tokens
                                                     - usage.reasoning_tokens)
            if usage.budget_forcing:
                self.waits.labels(model).inc(usage.budget_forcing["waits_inserted"])
                self.forced_closes.labels(model).inc(usage.budget_forcing["forced_closes"])
        _log(record, model, usage)

    def shed(self, reason: str, path: str, status: int) -> None:
        """A request refused by a limit (body size, queue, drain), before it was parsed."""
        self.shed_requests.labels(self.model_name, reason).inc()
        if (endpoint := ENDPOINTS.get(path)) is not None:
            self.rejected(endpoint, status)

    def rejected(self, endpoint: str, status: int) -> None:
        """A request refused before it ran (validation, auth, unknown model)."""
        outcome = "client_error" if status < 500 else "server_error"
        self.requests.labels(self.model_name, endpoint, "unknown", outcome).inc()


def _log(record: RequestRecord, model: str, usage: Usage | None) -> None:
    line = {
        "request_id": record.request_id, "model": model, "endpoint": record.endpoint,
        "stream": record.stream, "status": record.status, "outcome": record.outcome,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "reasoning_tokens": usage.reasoning_tokens if usage else None,
        "answer_tokens": usage.completion_tokens - usage.reasoning_tokens if usage else None,
        "waits": usage.budget_forcing["waits_inserted"] if usage and usage.budget_forcing else 0,
        "forced_closes": usage.budget_forcing["forced_closes"]
        if usage and usage.budget_forcing else 0,
        "ttft_s": _round(record.first_token_s),
        "time_to_first_answer_s": _round(record.first_content_s),
        "total_s": _round(time.perf_counter() - record.started_s),
        "finish_reasons": record.finish_reasons,
    }
    request_log.info(orjson.dumps(line).decode())


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)
