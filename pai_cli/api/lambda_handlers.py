"""The Lambda functions' entry points: API Gateway HTTP API v2 events in, JSON out (the
agent, memory and search functions), and SQS batches of memory jobs in, the failed ones out
(the memory writer).

Each container builds its services once (clients, the KMS data-key cache) and serves every
route it is given; which routes reach which function is the compute stack's business."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from pai_cli.api.app import build_app, too_large

logger = Logger()  # named by POWERTOOLS_SERVICE_NAME, which the compute stack sets to pai


@lru_cache(maxsize=1)
def services() -> Any:
    """The container's one Wiring, from the function's environment (config.lambda_settings)."""
    from pai_cli.config import ModelChoice, lambda_settings
    from pai_cli.wiring import Wiring

    settings = lambda_settings()
    return Wiring(settings, choice=ModelChoice(provider=settings.provider))


app = build_app(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    refused = too_large(event)
    if refused is not None:
        return refused
    return app.resolve(event, context)


agent_handler = memory_handler = search_handler = handle


@logger.inject_lambda_context
def memory_writer_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Each SQS record is one memory job, written by the same core code as `pai chat`.
    A record that fails is reported back alone (the event source mapping's
    ReportBatchItemFailures): SQS delivers it again after the visibility timeout and moves it
    to the dead-letter queue after maxReceiveCount; the others are deleted. Writes are keyed
    by ids derived from the job, so a redelivery never writes anything twice."""
    w = services()
    failed: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        message_id = str(record.get("messageId", ""))
        try:
            receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
            job = w.queued_job(record["body"], message_id, receives)
            logger.append_keys(user_id=job.user_id, message_id=message_id)
            report = w.chat.writer.run(job)
            for notice in report.notices:
                logger.info(notice)
            logger.info("memory job written", extra={"written": report.written})
        except Exception as e:  # noqa: BLE001 - reported back to SQS, which retries it
            logger.exception("memory job failed: SQS delivers it again, and dead-letters it "
                             "after the queue's maxReceiveCount",
                             extra={"error": getattr(e, "message", str(e))})
            failed.append({"itemIdentifier": message_id})
        finally:
            logger.remove_keys(["user_id", "message_id"])
    return {"batchItemFailures": failed}
