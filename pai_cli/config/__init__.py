"""Settings: flags > PAI_* environment variables > the config file > defaults.

The one package that reads the environment: every PAI_* variable (and the few of AWS's and
Lambda's that pai acts on) becomes a field of Settings here, so the rest of pai takes its
configuration from one object. pai_cli/wiring turns the settings into adapters.

settings holds the record, schema the known settings and the checks on their values,
environment what comes from the environment, loading the config file and load_settings,
lambda_env the settings of a Lambda container. Every name is importable from here."""

from __future__ import annotations

from pai_cli.config.environment import (
    aws_credentials_visible,
    debug_requested,
    no_color,
    read_environment,
)
from pai_cli.config.lambda_env import LAMBDA_NAMES, lambda_settings
from pai_cli.config.loading import config_path, default_home, load_settings, read_config
from pai_cli.config.schema import (
    API_AUTHS,
    AUTH_MODES,
    BACKENDS,
    CHOICES,
    EMBEDDERS,
    MAX_TTL_DAYS,
    MEMORY_MODES,
    PROVIDERS,
    VECTOR_STORES,
    check_user,
)
from pai_cli.config.settings import APP, ModelChoice, Settings

__all__ = [
    "API_AUTHS", "APP", "AUTH_MODES", "BACKENDS", "CHOICES", "EMBEDDERS", "LAMBDA_NAMES",
    "MAX_TTL_DAYS", "MEMORY_MODES", "PROVIDERS", "VECTOR_STORES", "ModelChoice", "Settings",
    "aws_credentials_visible", "check_user", "config_path", "debug_requested",
    "default_home", "lambda_settings", "load_settings", "no_color", "read_config",
    "read_environment",
]
