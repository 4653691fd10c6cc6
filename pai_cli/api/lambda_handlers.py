"""The three Lambda functions' entry points: API Gateway HTTP API v2 events in, JSON out.

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
