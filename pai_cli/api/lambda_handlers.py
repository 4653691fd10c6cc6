"""The three Lambda functions' entry points: API Gateway HTTP API v2 events in, JSON out.

Each container builds its services once (clients, the KMS data-key cache) and serves every
route it is given; which routes reach which function is the compute stack's business."""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from pai_cli.api.app import build_app, too_large

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "pai"))

# Reference environment variable -> aws_names field.
_NAMES = {
    "CONVERSATIONS_TABLE": "conversations_table",
    "MEMORIES_TABLE": "memories_table",
    "MEMORY_BUCKET": "memory_bucket",
    "KMS_KEY_ID": "key_alias",
    "VECTOR_BUCKET": "vector_bucket",
    "VECTOR_INDEX": "vector_index",
    "VECTOR_SEARCH_ENDPOINT": "opensearch_endpoint",
}


@lru_cache(maxsize=1)
def services() -> Any:
    from pai_cli.config import ModelChoice, load_settings
    from pai_cli.wiring import Wiring

    os.environ.setdefault("PAI_HOME", "/tmp/pai")  # the local queue and usage log only
    os.environ.setdefault("PAI_MODEL_TIMEOUT", "22")  # inside API Gateway's 30 s, with room
    settings = load_settings("lambda", backend="aws", env=os.environ.get("PAI_ENV", "dev"))
    names = {field: os.environ[var] for var, field in _NAMES.items() if os.environ.get(var)}
    settings = replace(
        settings,
        aws_names={**settings.aws_names, **names, "account": _account()},
        vector_store=os.environ.get("VECTOR_STORE", settings.vector_store),
        embedder=os.environ.get("PAI_EMBEDDER", "titan"),
        provider=os.environ.get("PAI_PROVIDER", "bedrock"),
        model=os.environ.get("AI_MODEL_ID") or settings.model,
        # The /chat turn must end inside API Gateway's 30 s: a reply longer than this many
        # tokens would not make it anyway.
        max_tokens=int(os.environ.get("PAI_MAX_TOKENS", "1024")),
    )
    wiring = Wiring(settings, choice=ModelChoice(provider=settings.provider))
    return wiring


def _account() -> str:
    # Lambda sets no account variable; the function ARN in the context has it, but the
    # names are complete without it when every name comes from the environment.
    return os.environ.get("AWS_ACCOUNT_ID", "000000000000")


app = build_app(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    refused = too_large(event)
    if refused is not None:
        return refused
    return app.resolve(event, context)


agent_handler = memory_handler = search_handler = handle
