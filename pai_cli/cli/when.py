"""Reading the times people type: `--since 7d`, `--as-of 2026-06-01`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

_SPAN = re.compile(r"(\d{1,6})\s*([mhdw])", re.I)
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def since(value: str, now: float, option: str = "--since") -> float:
    """A span back from now (30m, 12h, 7d, 2w) or a date/time (2026-06-01, ISO 8601)."""
    span = _SPAN.fullmatch(value.strip())
    if span:
        return now - int(span.group(1)) * _UNIT[span.group(2).lower()]
    return moment(value, option, end_of_day=False, spans=True)


def moment(value: str, option: str = "--as-of", end_of_day: bool = True,
           spans: bool = False) -> float:
    """An ISO 8601 date or date-time, UTC unless it says otherwise. A bare date means the
    end of that day (for --as-of: what held on that day). `spans`: the option takes a span
    too (through since()), and the error says so."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # The option is named by param_hint; the hint names only what that option takes.
        takes = ("YYYY-MM-DD, an ISO 8601 time, or a span like 7d or 12h" if spans
                 else "YYYY-MM-DD or an ISO 8601 time")
        raise typer.BadParameter(f"{value!r} is not a date: use {takes}.",
                                 param_hint=option) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end_of_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        parsed += timedelta(days=1, seconds=-1)
    return parsed.timestamp()
