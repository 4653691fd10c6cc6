"""What the Lambda functions tell CloudWatch: structured JSON logs (Powertools Logger), metrics
in embedded metric format (Powertools Metrics: JSON lines on stdout that CloudWatch Logs
turns into metrics, no PutMetricData call on the request path) and, with `pai deploy
--tracing`, X-Ray segments (Powertools Tracer).

The core knows none of this: a turn's phases come out in TurnResult.timings_ms, a memory
job's in the writer's WriteReport, and this module maps them to log fields and metrics. The
names here are the ones infra/monitoring.yaml's dashboard, alarms and saved queries read;
tests/test_observability.py holds both sides to them."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from pai_cli.records import TurnResult

NAMESPACE = "pai"
"""The metrics' namespace when POWERTOOLS_METRICS_NAMESPACE is unset (the compute stack sets
it to pai/ENV, so environments never mix on a dashboard)."""

# Metric names, read by infra/monitoring.yaml (dashboard widgets).
RECALL_MS = "TurnRecallMs"
MODEL_MS = "TurnModelMs"
WRITE_MS = "TurnWriteMs"
TOTAL_MS = "TurnTotalMs"
TOKENS_IN = "TokensIn"
TOKENS_OUT = "TokensOut"
TURN_ERRORS = "TurnErrors"
MEMORIES_WRITTEN = "MemoriesWritten"
JOBS_DONE = "JobsDone"
JOBS_FAILED = "JobsFailed"

logger = Logger(service="pai")  # POWERTOOLS_SERVICE_NAME; one logger shared by the handlers
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE,
                  service="pai")


def tracing_enabled() -> bool:
    """The compute stack sets POWERTOOLS_TRACE_DISABLED to "false" only with `pai deploy
    --tracing`; anything else (unset, outside Lambda) is off, and then the X-Ray SDK is not
    even imported (it would cost every cold start)."""
    return (os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() == "false"
            and bool(os.environ.get("LAMBDA_TASK_ROOT")))


@functools.lru_cache(maxsize=1)
def tracer() -> Any | None:
    if not tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    # boto3/botocore: every AWS call of the turn becomes a subsegment (DynamoDB, S3, KMS,
    # SQS, Bedrock); httpx is not patched by the SDK, so an OpenAI-compatible model is not.
    return Tracer(service="pai", patch_modules=["boto3", "botocore"])


def traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Tracer.capture_lambda_handler when tracing is on, the handler itself when it is off.
    Decided when the module loads (a container's environment does not change)."""
    t = tracer()
    if t is None:
        return handler
    # The response body holds the reply: never copy it into the trace's metadata.
    return t.capture_lambda_handler(handler, capture_response=False)


def annotate(**values: str) -> None:
    """Searchable X-Ray annotations (the pai user, the conversation) when tracing is on."""
    t = tracer()
    if t is None:
        return
    for key, value in values.items():
        if value:
            t.put_annotation(key, value)


def set_user(user_id: str) -> None:
    """The resolved pai user (api/identity.py), never the caller's principal ARN."""
    logger.append_keys(user_id=user_id)
    annotate(user_id=user_id)


def record_turn(result: TurnResult) -> None:
    """One /chat turn: a "turn" log line with its phases and tokens, and the same as
    metrics. write = storing the message with its memory job + storing the reply."""
    t = result.timings_ms
    write = t.get("store", 0.0) + t.get("finish", 0.0)
    usage = result.usage
    logger.append_keys(conversation_id=result.conversation_id)
    annotate(conversation_id=result.conversation_id)
    fields = {"recall_ms": round(t.get("recall", 0.0), 1),
              "model_ms": round(t.get("model", 0.0), 1), "write_ms": round(write, 1),
              "total_ms": round(t.get("total", 0.0), 1),
              "first_token_ms": round(t["first_token"], 1) if "first_token" in t else None,
              "tokens_in": usage.input_tokens if usage else 0,
              "tokens_out": usage.output_tokens if usage else 0,
              "recalled": len(result.recalled), "model": result.model,
              "interrupted": result.interrupted, "turn_error": result.error}
    if result.error:
        logger.warning("turn", extra=fields)
    else:
        logger.info("turn", extra=fields)
    metrics.add_metric(name=RECALL_MS, unit=MetricUnit.Milliseconds, value=t.get("recall", 0.0))
    if "model" in t:
        metrics.add_metric(name=MODEL_MS, unit=MetricUnit.Milliseconds, value=t["model"])
    metrics.add_metric(name=WRITE_MS, unit=MetricUnit.Milliseconds, value=write)
    metrics.add_metric(name=TOTAL_MS, unit=MetricUnit.Milliseconds, value=t.get("total", 0.0))
    metrics.add_metric(name=TOKENS_IN, unit=MetricUnit.Count, value=fields["tokens_in"])
    metrics.add_metric(name=TOKENS_OUT, unit=MetricUnit.Count, value=fields["tokens_out"])
    metrics.add_metric(name=TURN_ERRORS, unit=MetricUnit.Count, value=1 if result.error else 0)
    # Properties of the EMF record, not dimensions (a dimension per user would be a custom
    # metric per user): Logs Insights can still filter the metric lines by them.
    metrics.add_metadata(key="conversation_id", value=result.conversation_id)
    metrics.add_metadata(key="user_id", value=str(logger.get_current_keys().get("user_id", "")))


def record_jobs(written: int, done: int, failed: int) -> None:
    """One batch of the memory writer."""
    metrics.add_metric(name=MEMORIES_WRITTEN, unit=MetricUnit.Count, value=written)
    metrics.add_metric(name=JOBS_DONE, unit=MetricUnit.Count, value=done)
    metrics.add_metric(name=JOBS_FAILED, unit=MetricUnit.Count, value=failed)


def log_request(event: dict[str, Any], response: dict[str, Any], started: float) -> None:
    """One line per API request: its route, status and time; 5xx as an error, so the saved
    "errors" query and `pai logs` find the requests that failed without an exception."""
    status = int(response.get("statusCode") or 0)
    ctx = event.get("requestContext") or {}
    fields = {"route": ctx.get("routeKey") or event.get("routeKey"), "status": status,
              "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
    if status >= 500:
        logger.error("request", extra=fields)
    else:
        logger.info("request", extra=fields)


def flush() -> None:
    """Write the invocation's metrics (one EMF JSON line), if it recorded any: the search
    and memory routes record none, and an empty flush only warns."""
    if metrics.metric_set:
        metrics.flush_metrics()
    else:
        metrics.clear_metrics()
