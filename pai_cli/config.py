"""Settings: flags > PAI_* environment variables > the config file > defaults.

The one module that reads the environment: every PAI_* variable (and the few of AWS's and
Lambda's that pai acts on) becomes a field of Settings here, so the rest of pai takes its
configuration from one object. pai_cli/wiring turns the settings into adapters."""

from __future__ import annotations

import getpass
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pai_cli.errors import ConfigError, InputError

APP = "pai"
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_KEYS: dict[str, type] = {
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


def debug_requested(args: list[str]) -> bool:
    """--debug anywhere on the line, or PAI_DEBUG: decided before any settings load, so
    that a broken config file can be debugged too."""
    return "--debug" in args or os.environ.get("PAI_DEBUG", "") not in ("", "0")


def no_color() -> bool:
    """NO_COLOR (https://no-color.org): set, whatever its value, means no colour."""
    return "NO_COLOR" in os.environ


def default_home() -> Path:
    env = os.environ.get("PAI_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP, appauthor=False))


def config_path(home: Path) -> Path:
    env = os.environ.get("PAI_CONFIG")
    if env:
        return Path(env).expanduser()
    if os.environ.get("PAI_HOME"):
        return home / "config.toml"
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP, appauthor=False)) / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    try:
        if not path.exists():
            return {}
    except OSError as e:  # a folder pai may not look into (an unreadable PAI_HOME)
        raise ConfigError(f"Cannot read {path.parent} ({e.strerror}): check its permissions, "
                          "or set PAI_HOME to a folder you can use.") from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"The config file {path} is not valid TOML ({e}): fix or remove it.") from None
    except OSError as e:
        raise ConfigError(f"Cannot read the config file {path}: {e.strerror}.") from None
    for key, value in data.items():
        want = _KEYS.get(key)
        if want is None:
            raise ConfigError(
                f"Unknown setting {key!r} in {path}: known settings are {', '.join(_KEYS)}."
            )
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or isinstance(value, bool):
            raise ConfigError(f"Setting {key!r} in {path} must be a {want.__name__}.")
        data[key] = value
    return data


def check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise InputError(
            f"User name {user!r} is not valid: use 1-64 letters, digits, '.', '_', '@', '+' or '-'."
        )
    return user


@dataclass(frozen=True)
class Settings:
    home: Path
    config_file: Path
    user: str
    memory_ttl_days: float = 365.0
    conversation_ttl_days: float = 7.0
    default_category: str = "general"
    recall_k: int = 5
    min_score: float = 0.01
    output: str | None = None
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_file: str | None = None
    max_tokens: int = 2048
    context_tokens: int = 12000
    history_messages: int = 20
    aws_profile: str | None = None
    aws_region: str | None = None
    backend: str = "local"
    env: str = "dev"
    vector_store: str = "s3vectors"
    embedder: str = "default"
    aws_names: dict[str, str] = field(default_factory=dict)
    memory_mode: str = "distill"
    """distill: facts from each exchange, with a model (verbatim without one); verbatim."""
    memory_categories: tuple[str, ...] = ()
    """Categories of the user's own, beside the default set, for distilled facts."""
    allow_model_forget: bool = False
    """Let the model's update/forget tools act where no one can be asked (-m, the API)."""
    # From the environment only (PAI_*; never in config.toml: secrets, per-machine values).
    master_key_file: str | None = None
    api_key: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    model_timeout: float = 60.0
    db_timeout: float = 15.0
    aws_endpoint: str | None = None
    bedrock_endpoint: str | None = None
    aws_env_region: str | None = None
    """AWS_REGION, else AWS_DEFAULT_REGION: botocore on its own ignores AWS_REGION."""
    principal_users: Mapping[str, str] = field(default_factory=dict)
    """Principal ARN -> pai user: [principal_users] in config.toml, PAI_PRINCIPAL_USERS
    (the functions get it from the compute stack's PrincipalUsers) above it."""
    in_lambda: bool = False
    cache_dir: str | None = None
    """PAI_CACHE_DIR: where files pai can always rebuild are kept (the optimised model)."""
    user_is_default: bool = False
    """No --user, PAI_USER or config user: the OS user's name. On the AWS home the CLI then
    files memories under the caller's AWS identity instead, as the HTTP API does."""
    memory_queue_url: str | None = None
    """MEMORY_QUEUE_URL: the SQS queue of memory jobs (Lambda only)."""
    limits_table: str | None = None
    """LIMITS_TABLE: the HTTP API's per-user request buckets (Lambda only)."""
    rate_per_minute: float = 0.0
    """PAI_RATE_PER_MINUTE: requests a minute each user may make to the HTTP API, on
    average (the compute stack's UserRequestsPerMinute); 0: no per-user limit."""
    rate_burst: int = 20
    """PAI_RATE_BURST: requests a user may make at once (UserBurst)."""
    # --backend api: where the deployed API is and how to sign in to it. Unset: from the
    # `pai login` cache, else from the stacks' outputs (with AWS credentials).
    api_url: str | None = None
    api_auth: str | None = None
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None

    @property
    def db_path(self) -> Path:
        return self.home / "pai.db"

    @property
    def key_path(self) -> Path:
        if self.master_key_file:
            return Path(self.master_key_file).expanduser()
        return self.home / "master.key"

    @property
    def model_cache(self) -> Path:
        """The embedder's optimised model: rebuilt from the wheel whenever it is missing, so
        a cache beside the user's other caches, not data in the home (a backup of the home
        need not carry its 90 MB; every home of this OS user shares it)."""
        if self.cache_dir:
            return Path(self.cache_dir).expanduser() / "models"
        from platformdirs import user_cache_dir

        return Path(user_cache_dir(APP, appauthor=False)) / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def api_key_path(self) -> Path:
        return Path(self.api_key_file).expanduser() if self.api_key_file else self.home / "api_key"

    def sign_in_path(self, env: str | None = None) -> Path:
        """`pai login`'s cache for an environment: the API's address and the tokens (0600)."""
        return self.home / "sign-in" / f"{env or self.env}.json"

    @property
    def mcp_token_path(self) -> Path:
        """The bearer token of `pai mcp --transport http` (0600)."""
        return self.home / "mcp_token"


def load_settings(user: str | None = None, **flags: str | None) -> Settings:
    """flags: backend, env (the root command's options), above env and config."""
    home = default_home()
    path = config_path(home)
    data = read_config(path)
    configured = data.pop("user", None)
    if configured is not None and not _USER.fullmatch(configured):
        raise ConfigError(f"Setting 'user' = {configured!r} in {path} is not valid: use 1-64 "
                          "letters, digits, '.', '_', '@', '+' or '-'.")
    # An empty --user is a mistake to say, not a request for the OS user (an empty PAI_USER
    # is the shell's way of leaving it unset, so that one still falls through).
    explicit = user if user is not None else (os.environ.get("PAI_USER") or configured)
    chosen = explicit if explicit is not None else _os_user()
    for key, (var, kind) in _ENV.items():
        raw = os.environ.get(var)
        if raw:
            try:
                data[key] = kind(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not a valid {kind.__name__}.") from None
    data.update({k: v for k, v in flags.items() if v})
    for key, allowed in CHOICES.items():
        if key in data and data[key] not in allowed:
            raise ConfigError(f"Unknown {key} {data[key]!r}: use one of {', '.join(allowed)}.")
    if "env" in data and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", data["env"]):
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
    environment = _from_environment()
    mapping = data.pop("principal_users", {})
    if not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"[principal_users] in {path} maps principal ARNs to user names "
                          "(strings).")
    environment["principal_users"] = {**mapping, **environment["principal_users"]}
    return Settings(home=home, config_file=path, user=check_user(chosen), **data,
                    **environment, user_is_default=not explicit)


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


def _seconds(var: str, default: float, least: float) -> float:
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
    return _from_environment()


def _from_environment() -> dict[str, Any]:
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
        "model_timeout": _seconds("PAI_MODEL_TIMEOUT", 60.0, 1.0),
        "db_timeout": _seconds("PAI_DB_TIMEOUT", 15.0, 0.0),
        "aws_endpoint": env.get("PAI_AWS_ENDPOINT") or None,
        "bedrock_endpoint": env.get("PAI_BEDROCK_ENDPOINT") or None,
        "aws_env_region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        "principal_users": users,
        "in_lambda": bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
        "cache_dir": env.get("PAI_CACHE_DIR") or None,
    }


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
    timeout = _seconds("PAI_MODEL_TIMEOUT", 22.0, 1.0)  # inside API Gateway's 30 s, with room
    names = {fld: env[var] for var, fld in LAMBDA_NAMES.items() if env.get(var)}
    vector_store = env.get("VECTOR_STORE") or "s3vectors"
    if vector_store not in VECTOR_STORES:
        raise ConfigError(f"VECTOR_STORE={vector_store!r}: use one of {', '.join(VECTOR_STORES)}.")
    try:
        max_tokens = int(env.get("PAI_MAX_TOKENS") or "1024")
    except ValueError:
        raise ConfigError(f"PAI_MAX_TOKENS={env['PAI_MAX_TOKENS']!r} is not a number.") from None
    base = Settings(home=home, config_file=home / "config.toml", user="lambda",
                    **_from_environment())
    stage = env.get("PAI_ENV") or "dev"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", stage):
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


def _os_user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "default"
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", name) or "default"


@dataclass(frozen=True)
class ModelChoice:
    """Flags that override the settings for one command."""

    provider: str | None = None
    model: str | None = None
    profile: str | None = None
    region: str | None = None
