"""The settings a config file may hold, the choices some of them take, and the checks on
their values: refused on load, naming the setting, whatever layer the value came from."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pai_cli.errors import ConfigError, InputError

_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
KEYS: dict[str, type] = {
    "user": str,
    "memory_ttl_days": float,
    "conversation_ttl_days": float,
    "default_category": str,
    "recall_k": int,
    "min_score": float,
    "output": str,
    "provider": str,
    "model": str,
    "base_url": str,
    "api_key_file": str,
    "max_tokens": int,
    "context_tokens": int,
    "history_messages": int,
    "aws_profile": str,
    "aws_region": str,
    "backend": str,
    "env": str,
    "vector_store": str,
    "embedder": str,
    "aws_names": dict,
    "memory_mode": str,
    "memory_categories": list,
    "allow_model_forget": bool,
    "principal_users": dict,
    "api_url": str,
    "api_auth": str,
    "cognito_user_pool_id": str,
    "cognito_client_id": str,
}
# One registry per choice: flags, config validation and the wiring all read these.
PROVIDERS = ("bedrock", "openai", "none")
BACKENDS = ("local", "aws", "api")
"""local and aws are homes; api is a client of a deployed home's HTTP API."""
AUTH_MODES = ("iam", "jwt", "cognito")
"""How the deployed HTTP API authorizes (`pai deploy --auth`)."""
API_AUTHS = ("iam", "cognito")
"""How `--backend api` signs its requests: SigV4, or the `pai login` token."""
VECTOR_STORES = ("s3vectors", "opensearch")
EMBEDDERS = ("default", "local", "titan", "minilm")
MEMORY_MODES = ("distill", "verbatim")
CHOICES = {"backend": BACKENDS, "vector_store": VECTOR_STORES, "embedder": EMBEDDERS,
           "memory_mode": MEMORY_MODES, "api_auth": API_AUTHS}
MAX_TTL_DAYS = 36500.0
"""A lifetime of up to 100 years: every date pai stores must stay showable (year <= 9999),
and a memory meant to outlive that is pinned instead."""
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")  # core/text.py clean_category's rule
ENV_NAME = r"[a-z0-9][a-z0-9-]{0,19}"


def check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise InputError(
            f"User name {user!r} is not valid: use 1-64 letters, digits, '.', '_', '@', '+' or '-'."
        )
    return user


def check_configured_user(configured: str | None, path: Path) -> None:
    if configured is not None and not _USER.fullmatch(configured):
        raise ConfigError(f"Setting 'user' = {configured!r} in {path} is not valid: use 1-64 "
                          "letters, digits, '.', '_', '@', '+' or '-'.")


def check_types(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The config file's settings, each known and of its type (an int where a float is
    wanted becomes the float)."""
    for key, value in data.items():
        want = KEYS.get(key)
        if want is None:
            raise ConfigError(
                f"Unknown setting {key!r} in {path}: known settings are {', '.join(KEYS)}."
            )
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or isinstance(value, bool):
            raise ConfigError(f"Setting {key!r} in {path} must be a {want.__name__}.")
        data[key] = value
    return data


def check_merged(data: dict[str, Any], path: Path) -> None:
    """The merged settings (file, PAI_* and flags): choices, ranges and names; the default
    category is lowered and the categories made a tuple in place."""
    for key, allowed in CHOICES.items():
        if key in data and data[key] not in allowed:
            raise ConfigError(f"Unknown {key} {data[key]!r}: use one of {', '.join(allowed)}.")
    if "env" in data and not re.fullmatch(ENV_NAME, data["env"]):
        raise ConfigError(f"Environment name {data['env']!r} is not valid: use a-z, 0-9, '-'.")
    if data.get("provider") is not None and data["provider"] not in PROVIDERS:
        raise ConfigError(
            f"Unknown provider {data['provider']!r}: use one of {', '.join(PROVIDERS)}."
        )
    if not 0.0 <= data.get("min_score", 0.0) <= 1.0:
        raise ConfigError("Setting 'min_score' must be between 0 and 1.")
    for key in ("max_tokens", "context_tokens", "history_messages"):
        if key in data and data[key] < 1:
            raise ConfigError(f"Setting {key!r} must be at least 1.")
    _check_values(data, path)
    if "memory_categories" in data:
        cats = data["memory_categories"]
        if not all(isinstance(c, str) and re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,39}", c)
                   for c in cats):
            raise ConfigError("Setting 'memory_categories' must be a list of category names "
                              "(1-40 of a-z, 0-9, '-', '_', '.').")
        data["memory_categories"] = tuple(cats)


def _check_values(data: dict[str, Any], path: Path) -> None:
    """Values the type check lets through but pai cannot use: refused on load, naming the
    setting, rather than failing later under the name of a flag nobody typed."""
    if "recall_k" in data and not 1 <= data["recall_k"] <= 100:
        raise ConfigError(f"Setting 'recall_k' = {data['recall_k']} in {path}: use a number "
                          "of memories from 1 to 100.")
    for key in ("memory_ttl_days", "conversation_ttl_days"):
        if key in data and not (math.isfinite(data[key]) and 0 < data[key] <= MAX_TTL_DAYS):
            raise ConfigError(f"Setting {key!r} = {data[key]} in {path}: use a number of days "
                              f"above 0 and at most {MAX_TTL_DAYS:.0f} (pin a memory to keep "
                              "it for good).")
    if "default_category" in data:
        category = data["default_category"].strip().lower()
        if not _CATEGORY.fullmatch(category):
            raise ConfigError(f"Setting 'default_category' = {data['default_category']!r} in "
                              f"{path}: use 1-40 of a-z, 0-9, '-', '_', '.'.")
        data["default_category"] = category


def check_principal_users(mapping: dict[str, Any], path: Path) -> None:
    if not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"[principal_users] in {path} maps principal ARNs to user names "
                          "(strings).")
