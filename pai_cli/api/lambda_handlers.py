"""The Lambda functions' entry points: API Gateway HTTP API v2 events in, JSON out (the
agent, memory and search functions), and SQS batches of memory jobs in, the failed ones out
(the memory writer).

Each container builds its services once (clients, the KMS data-key cache) and serves every
route it is given; which routes reach which function is the compute stack's business."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from pai_cli.api import observe
from pai_cli.api.app import build_app, too_large

# One JSON line per log call: the service, level, cold_start, function_request_id (Lambda's
# request id), correlation_id (API Gateway's), user_id and conversation_id once known.
logger = observe.logger


@lru_cache(maxsize=1)
def services() -> Any:
    """The container's one Wiring, from the function's environment (config.lambda_settings)."""
    from pai_cli.config import ModelChoice, lambda_settings
    from pai_cli.wiring import Wiring

    settings = lambda_settings()
    return Wiring(settings, choice=ModelChoice(provider=settings.provider))


app = build_app(services, on_turn=observe.record_turn, on_user=observe.set_user)


# clear_state: a warm container serves many users; no key of one request may reach the next.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP,
                              clear_state=True)
@observe.traced
def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = too_large(event) or app.resolve(event, context)
        observe.log_request(event, response, started)
        return response
    finally:
        observe.flush()


agent_handler = memory_handler = search_handler = handle


@logger.inject_lambda_context(clear_state=True)
@observe.traced
def memory_writer_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Each SQS record is one memory job, written by the same core code as `pai chat`.
    A record that fails is reported back alone (the event source mapping's
    ReportBatchItemFailures): SQS delivers it again after the visibility timeout and moves it
    to the dead-letter queue after maxReceiveCount; the others are deleted. Writes are keyed
    by ids derived from the job, so a redelivery never writes anything twice."""
    w = services()
    failed: list[dict[str, str]] = []
    written = done = 0
    try:
        for record in event.get("Records") or []:
            message_id = str(record.get("messageId", ""))
            try:
                logger.append_keys(message_id=message_id)
                receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
                logger.append_keys(receive_count=receives)
                job = w.queued_job(record["body"], message_id, receives)
                observe.set_user(job.user_id)
                logger.append_keys(conversation_id=_conversation_of(job))
                report = w.chat.writer.run(job)
                for notice in report.notices:
                    logger.info(notice)
                logger.info("memory job written", extra={"written": report.written})
                written += report.written
                done += 1
            except Exception as e:  # noqa: BLE001 - reported back to SQS, which retries it
                logger.exception("memory job failed: SQS delivers it again, and dead-letters "
                                 "it after the queue's maxReceiveCount",
                                 extra={"error": getattr(e, "message", str(e))})
                failed.append({"itemIdentifier": message_id})
            finally:
                logger.remove_keys(["user_id", "message_id", "receive_count",
                                    "conversation_id"])
        observe.record_jobs(written, done, len(failed))
    finally:
        observe.flush()
    return {"batchItemFailures": failed}


def _conversation_of(job: Any) -> str | None:
    """The conversation a remember job came from, for the log line (None for another kind,
    or a payload the writer will refuse with its own error)."""
    from pai_cli.core.jobs import REMEMBER, RememberJob

    if getattr(job, "kind", None) != REMEMBER:
        return None
    try:
        return RememberJob.decode(job.payload).conversation_id
    except Exception:  # noqa: BLE001 - the writer reports the bad job itself
        return None
