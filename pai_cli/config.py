"""Settings: flags > PAI_* environment variables > the config file > defaults.
(pai_cli/wiring.py turns them into adapters and services.)"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from dataclasses import dataclass, field
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
}
_ENV = {  # PAI_* variables that override the config file
    "provider": ("PAI_PROVIDER", str),
    "model": ("PAI_MODEL", str),
    "base_url": ("PAI_BASE_URL", str),
    "max_tokens": ("PAI_MAX_TOKENS", int),
    "backend": ("PAI_BACKEND", str),
    "env": ("PAI_ENV", str),
}
PROVIDERS = ("bedrock", "openai", "none")
CHOICES = {
    "backend": ("local", "aws"),
    "vector_store": ("s3vectors", "opensearch"),
    "embedder": ("default", "local", "titan"),
}


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
    if not path.exists():
        return {}
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

    @property
    def db_path(self) -> Path:
        return self.home / "pai.db"

    @property
    def key_path(self) -> Path:
        env = os.environ.get("PAI_MASTER_KEY_FILE")
        return Path(env).expanduser() if env else self.home / "master.key"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def api_key_path(self) -> Path:
        return Path(self.api_key_file).expanduser() if self.api_key_file else self.home / "api_key"


def load_settings(user: str | None = None, **flags: str | None) -> Settings:
    """flags: backend, env (the root command's options), above env and config."""
    home = default_home()
    path = config_path(home)
    data = read_config(path)
    chosen = user or os.environ.get("PAI_USER") or data.pop("user", None) or _os_user()
    data.pop("user", None)
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
    return Settings(home=home, config_file=path, user=check_user(chosen), **data)


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
