"""The settings of a Lambda container, all from the environment the compute stack sets."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pai_cli.config.environment import from_environment, seconds
from pai_cli.config.schema import ENV_NAME, MEMORY_MODES, VECTOR_STORES
from pai_cli.config.settings import Settings
from pai_cli.errors import ConfigError

# Reference environment variable of the Lambda functions -> aws_names field.
LAMBDA_NAMES = {
    "CONVERSATIONS_TABLE": "conversations_table",
    "MEMORIES_TABLE": "memories_table",
    "MEMORY_BUCKET": "memory_bucket",
    "KMS_KEY_ID": "key_alias",
    "KMS_KEY_ARN": "key_arn",
    "VECTOR_BUCKET": "vector_bucket",
    "VECTOR_INDEX": "vector_index",
    "VECTOR_SEARCH_ENDPOINT": "opensearch_endpoint",
}


def lambda_settings() -> Settings:
    """The settings of a Lambda container: the AWS home, every resource named by the
    compute stack's environment; memory jobs on SQS (MEMORY_QUEUE_URL), the local queue (a
    failed send's fallback) and the usage log in /tmp."""
    env = os.environ
    home = Path(env.get("PAI_HOME") or "/tmp/pai")  # the local queue and usage log only
    timeout = seconds("PAI_MODEL_TIMEOUT", 22.0, 1.0)  # inside API Gateway's 30 s, with room
    names = {fld: env[var] for var, fld in LAMBDA_NAMES.items() if env.get(var)}
    vector_store = env.get("VECTOR_STORE") or "s3vectors"
    if vector_store not in VECTOR_STORES:
        raise ConfigError(f"VECTOR_STORE={vector_store!r}: use one of {', '.join(VECTOR_STORES)}.")
    try:
        max_tokens = int(env.get("PAI_MAX_TOKENS") or "1024")
    except ValueError:
        raise ConfigError(f"PAI_MAX_TOKENS={env['PAI_MAX_TOKENS']!r} is not a number.") from None
    base = Settings(home=home, config_file=home / "config.toml", user="lambda",
                    **from_environment())
    stage = env.get("PAI_ENV") or "dev"
    if not re.fullmatch(ENV_NAME, stage):
        raise ConfigError(f"PAI_ENV={stage!r} is not a valid environment name.")
    return replace(
        base,
        backend="aws",
        env=stage,
        # Lambda sets no account variable; every name comes from the environment instead.
        aws_names={**names, "account": env.get("AWS_ACCOUNT_ID") or "000000000000"},
        vector_store=vector_store,
        embedder=env.get("PAI_EMBEDDER") or "titan",
        provider=env.get("PAI_PROVIDER") or "bedrock",
        memory_mode=_choice("PAI_MEMORY_MODE", MEMORY_MODES, "distill"),
        model=env.get("AI_MODEL_ID") or env.get("PAI_MODEL") or None,
        base_url=env.get("PAI_BASE_URL") or None,
        # The /chat turn must end inside API Gateway's 30 s: a reply longer than this many
        # tokens would not make it anyway.
        max_tokens=max_tokens,
        model_timeout=timeout,
        memory_queue_url=env.get("MEMORY_QUEUE_URL") or None,
        **_rate_limit(env),
    )


def _rate_limit(env: Mapping[str, str]) -> dict[str, Any]:
    """The per-user limit of the HTTP API from the compute stack's parameters."""
    try:
        per_minute = float(env.get("PAI_RATE_PER_MINUTE") or "0")
        burst = int(env.get("PAI_RATE_BURST") or "20")
    except ValueError:
        raise ConfigError("PAI_RATE_PER_MINUTE and PAI_RATE_BURST must be numbers: redeploy "
                          "the compute stack.") from None
    if not (math.isfinite(per_minute) and per_minute >= 0 and burst >= 1):
        raise ConfigError(f"PAI_RATE_PER_MINUTE={per_minute} / PAI_RATE_BURST={burst}: use a "
                          "rate of 0 or more and a burst of at least 1.")
    return {"limits_table": env.get("LIMITS_TABLE") or None, "rate_per_minute": per_minute,
            "rate_burst": burst}


def _choice(var: str, allowed: tuple[str, ...], default: str) -> str:
    value = os.environ.get(var) or default
    if value not in allowed:
        raise ConfigError(f"{var}={value!r}: use one of {', '.join(allowed)}.")
    return value

