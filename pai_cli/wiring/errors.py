"""Backend exceptions as the one-line errors pai prints: each home's adapter knows its own,
asked only when its SDK was imported (so translating costs nothing otherwise)."""

from __future__ import annotations

from pai_cli.config import Settings
from pai_cli.errors import PaiError


def translate_error(exc: BaseException, settings: Settings | None) -> PaiError | None:
    """Backend exceptions as one-line PaiErrors; None when the exception is not theirs."""
    import sys

    if "botocore" in sys.modules:
        from pai_cli.backends.aws.session import translate as translate_aws

        known = translate_aws(exc, "AWS", settings.env if settings else "dev")
        if known is not None:
            return known
    if "sqlite3" in sys.modules:
        from pai_cli.backends.local.db import translate

        return translate(exc, settings.db_path if settings else None)
    return None
