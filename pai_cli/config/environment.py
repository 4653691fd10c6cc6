"""What pai takes from the environment: the PAI_* variables over the config file, the
Settings fields set by the environment alone, the run's switches (--debug, NO_COLOR), the OS
user, and whether AWS credentials are within reach."""

from __future__ import annotations

import getpass
import json
import os
import re
from pathlib import Path
from typing import Any

from pai_cli.errors import ConfigError

_ENV = {  # PAI_* variables that override the config file
    "provider": ("PAI_PROVIDER", str),
    "model": ("PAI_MODEL", str),
    "base_url": ("PAI_BASE_URL", str),
    "max_tokens": ("PAI_MAX_TOKENS", int),
    "backend": ("PAI_BACKEND", str),
    "env": ("PAI_ENV", str),
    "memory_mode": ("PAI_MEMORY_MODE", str),
    "api_url": ("PAI_API_URL", str),
    "api_auth": ("PAI_API_AUTH", str),
    "cognito_user_pool_id": ("PAI_COGNITO_USER_POOL_ID", str),
    "cognito_client_id": ("PAI_COGNITO_CLIENT_ID", str),
}


def debug_requested(args: list[str]) -> bool:
    """--debug anywhere on the line, or PAI_DEBUG: decided before any settings load, so
    that a broken config file can be debugged too."""
    return "--debug" in args or os.environ.get("PAI_DEBUG", "") not in ("", "0")


def no_color() -> bool:
    """NO_COLOR (https://no-color.org): set, whatever its value, means no colour."""
    return "NO_COLOR" in os.environ


def overrides(data: dict[str, Any]) -> None:
    """The PAI_* variables that are set, over the config file's values in data."""
    for key, (var, kind) in _ENV.items():
        raw = os.environ.get(var)
        if raw:
            try:
                data[key] = kind(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not a valid {kind.__name__}.") from None


def seconds(var: str, default: float, least: float) -> float:
    raw = os.environ.get(var)
    if not raw:
        return default
    try:
        return max(least, float(raw))
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a number of seconds.") from None


def read_environment() -> dict[str, Any]:
    """The Settings fields that come from the environment alone (for commands, like
    deploy, that need no config file)."""
    return from_environment()


def from_environment() -> dict[str, Any]:
    env = os.environ
    raw_users = env.get("PAI_PRINCIPAL_USERS") or "{}"
    try:
        users = json.loads(raw_users)
    except ValueError:
        users = None
    if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
        raise ConfigError("PAI_PRINCIPAL_USERS must be a JSON object of principal ARN -> "
                          "pai user name.")
    return {
        "master_key_file": env.get("PAI_MASTER_KEY_FILE") or None,
        "api_key": (env.get("PAI_API_KEY") or "").strip() or None,
        "key_passphrase": env.get("PAI_KEY_PASSPHRASE") or None,
        "model_timeout": seconds("PAI_MODEL_TIMEOUT", 60.0, 1.0),
        "db_timeout": seconds("PAI_DB_TIMEOUT", 15.0, 0.0),
        "aws_endpoint": env.get("PAI_AWS_ENDPOINT") or None,
        "bedrock_endpoint": env.get("PAI_BEDROCK_ENDPOINT") or None,
        "aws_env_region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        "principal_users": users,
        "in_lambda": bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
        "cache_dir": env.get("PAI_CACHE_DIR") or None,
    }


def aws_credentials_visible(profile: str | None) -> bool:
    """AWS credentials pai can see without a network call (never the instance metadata
    service): a profile, key variables, a container or web-identity source, or the files."""
    env = os.environ
    if profile or env.get("AWS_PROFILE") or env.get("AWS_ACCESS_KEY_ID"):
        return True
    if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return True
    for var, default in (("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
                         ("AWS_CONFIG_FILE", "~/.aws/config")):
        path = Path(env.get(var, default)).expanduser()
        if path.exists() and path.stat().st_size > 0:
            return True
    return False


def os_user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "default"
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", name) or "default"
