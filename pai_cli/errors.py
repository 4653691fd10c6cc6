"""Every error pai raises on purpose, and the exit code each one maps to.

    PaiError                      base; carries a one-line message with what to do
    ├── InputError      (exit 1)  bad input or data: empty text, malformed line, unknown id
    │   └── NotFound              an id that does not exist for this user
    ├── ConfigError     (exit 3)  configuration or credentials: missing/wrong master key,
    │   └── ModelMismatch         index built with another embedding model
    └── BackendError    (exit 4)  a store that failed or cannot be reached: locked,
        │                         read-only or corrupted database
        ├── UnreadableRecord      one stored record that cannot be read (altered, moved,
        │                         unknown format): readers skip it and name it
        └── ModelError            a chat model that refused or failed (throttled, timed
            │                     out, unreachable); `partial` holds what arrived
            └── DeadlineExceeded  the reply did not end before the turn's deadline

Usage errors (exit 2) are Click's own, raised by Typer for bad flags or missing arguments.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    BAD_INPUT = 1
    USAGE = 2
    CONFIG = 3
    BACKEND = 4
    INTERRUPTED = 130


class PaiError(Exception):
    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InputError(PaiError):
    exit_code = ExitCode.BAD_INPUT


class NotFound(InputError):
    pass


class ConfigError(PaiError):
    exit_code = ExitCode.CONFIG


class ModelMismatch(ConfigError):
    pass


class BackendError(PaiError):
    exit_code = ExitCode.BACKEND


class UnreadableRecord(BackendError):
    """One record that cannot be read, while the rest of the store can: a reader of many
    records leaves it out and names it, rather than failing for all of them."""


class ModelError(BackendError):
    pass


class DeadlineExceeded(ModelError):
    """The turn ran past the deadline its caller set (the HTTP API's 30 s)."""


class PromptTooLong(ModelError):
    """The provider says the prompt does not fit: the user shortens it (exit 1)."""

    exit_code = ExitCode.BAD_INPUT


class ModelConfigError(ConfigError):
    """The model refused us for a reason the user must fix: access, key, model id."""
