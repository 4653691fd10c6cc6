"""Where the home and the config file are, reading the file, and load_settings: flags over
PAI_* variables over the file over the defaults."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pai_cli.config import environment, schema
from pai_cli.config.settings import APP, Settings
from pai_cli.errors import ConfigError


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
    return schema.check_types(data, path)


def load_settings(user: str | None = None, **flags: str | None) -> Settings:
    """flags: backend, env (the root command's options), above env and config."""
    home = default_home()
    path = config_path(home)
    data = read_config(path)
    configured = data.pop("user", None)
    schema.check_configured_user(configured, path)
    # An empty --user is a mistake to say, not a request for the OS user (an empty PAI_USER
    # is the shell's way of leaving it unset, so that one still falls through).
    explicit = user if user is not None else (os.environ.get("PAI_USER") or configured)
    chosen = explicit if explicit is not None else environment.os_user()
    environment.overrides(data)
    data.update({k: v for k, v in flags.items() if v})
    schema.check_merged(data, path)
    from_env = environment.from_environment()
    mapping = data.pop("principal_users", {})
    schema.check_principal_users(mapping, path)
    from_env["principal_users"] = {**mapping, **from_env["principal_users"]}
    return Settings(home=home, config_file=path, user=schema.check_user(chosen), **data,
                    **from_env, user_is_default=not explicit)
