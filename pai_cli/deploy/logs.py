"""`pai logs`: the functions' log lines from CloudWatch Logs (FilterLogEvents), merged in
time order, filtered to one pai user by the JSON field the handlers log (api/observe.py),
and followed by polling.

No Typer, no printing: the caller passes `on_event` for each line and a `stop` check, and
renders. FilterLogEvents is used rather than StartLiveTail because it pages through the
past (--since) and can be polled, and botocore's Stubber and moto both speak it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.errors import InputError

FUNCTIONS = ("agent", "memory", "search", "memory-writer")
"""The functions' short names: /aws/lambda/pai-{name}-{env} (infra/compute.yaml)."""
_USER = re.compile(r"[A-Za-z0-9._@+:-]{1,200}")
_SPAN = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def log_group(function: str, env: str) -> str:
    return f"/aws/lambda/pai-{function}-{env}"


def since_ms(value: str, now: float | None = None) -> int:
    """"30s", "15m", "1h", "2d", "1w" ago, or an ISO 8601 time (UTC unless it says), as
    epoch milliseconds."""
    now = time.time() if now is None else now
    text = (value or "").strip()
    span = _SPAN.fullmatch(text)
    if span:
        return int((now - float(span.group(1)) * _UNIT_S[span.group(2).lower()]) * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--since {value!r}: give a span (30s, 15m, 1h, 2d, 1w) or an ISO "
                         "time (2026-12-02T09:00).") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when.timestamp() > now:
        raise InputError(f"--since {value!r} is in the future.")
    return int(when.timestamp() * 1000)


def user_pattern(user: str | None) -> str | None:
    """A CloudWatch Logs JSON filter pattern matching the lines logged for one pai user
    (the user_id field, as resolved by the API: never a principal ARN)."""
    if user is None:
        return None
    if not _USER.fullmatch(user):
        raise InputError(f"--user {user!r}: a pai user id is letters, digits and . _ @ + : - "
                         "(see `pai logs` lines for the ids in use).")
    return f'{{ $.user_id = "{user}" }}'


@dataclass(frozen=True)
class LogLine:
    function: str
    timestamp: int
    """Epoch milliseconds."""
    message: str
    event_id: str
    stream: str = ""
    fields: dict[str, Any] | None = None
    """The line parsed, when it is one of the handlers' JSON lines (or an EMF record)."""

    @property
    def iso(self) -> str:
        return datetime.fromtimestamp(self.timestamp / 1000, UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "timestamp": self.iso, "stream": self.stream,
                "message": self.message, "fields": self.fields}


def _parse(message: str) -> dict[str, Any] | None:
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class _Cursor:
    """Where each log group's reading stands: the newest timestamp seen and the ids seen at
    it (FilterLogEvents' startTime is inclusive, so a poll sees those again)."""

    start: int
    seen: set[str] = field(default_factory=set)


@dataclass
class LogReader:
    aws: Aws
    env: str
    functions: Sequence[str] = FUNCTIONS
    user: str | None = None
    sleep: Callable[[float], None] = time.sleep
    poll_s: float = 2.0
    page_limit: int = 1000

    def __post_init__(self) -> None:
        unknown = [f for f in self.functions if f not in FUNCTIONS]
        if unknown:
            raise InputError(f"--function {unknown[0]!r}: use one of {', '.join(FUNCTIONS)}.")
        self.pattern = user_pattern(self.user)

    def _read(self, function: str, cursor: _Cursor, end: int | None) -> list[LogLine]:
        logs = self.aws.client("logs")
        group = log_group(function, self.env)
        lines: list[LogLine] = []
        seen_here: list[LogLine] = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {"logGroupName": group, "startTime": cursor.start,
                                    "limit": self.page_limit}
            if end is not None:
                args["endTime"] = end
            if self.pattern:
                args["filterPattern"] = self.pattern
            if token:
                args["nextToken"] = token
            page = call(lambda a=args: logs.filter_log_events(**a), f"Log group {group}",
                        self.env)
            for e in page.get("events", []):
                eid = str(e.get("eventId") or f"{e.get('logStreamName')}/{e['timestamp']}/"
                          f"{hash(e.get('message'))}")
                if eid in cursor.seen:
                    continue
                message = str(e.get("message", "")).rstrip("\n")
                line = LogLine(function, int(e["timestamp"]), message, eid,
                               str(e.get("logStreamName", "")), _parse(message))
                seen_here.append(line)
                # The pattern already filtered; the field is checked again so a line can
                # never be shown for another user whatever matched it.
                if self.user is None or (line.fields or {}).get("user_id") == self.user:
                    lines.append(line)
            new_token = page.get("nextToken")
            if not new_token or new_token == token:
                break
            token = new_token
        if seen_here:
            newest = max(x.timestamp for x in seen_here)
            if newest > cursor.start:
                cursor.start = newest
                cursor.seen = set()
            cursor.seen.update(x.event_id for x in seen_here if x.timestamp == cursor.start)
        return lines

    def run(self, start_ms: int, on_line: Callable[[LogLine], None], follow: bool = False,
            stop: Callable[[], bool] | None = None, end_ms: int | None = None) -> int:
        """Every line from start_ms on (to end_ms), oldest first across the functions; with
        follow, then polls every poll_s for new ones until stop() is true (or Ctrl-C reaches
        the caller). Returns how many lines were given to on_line."""
        cursors = {f: _Cursor(start_ms) for f in self.functions}
        shown = 0
        while True:
            batch: list[LogLine] = []
            for function in self.functions:
                batch += self._read(function, cursors[function], end_ms)
            batch.sort(key=lambda x: (x.timestamp, x.function))
            for line in batch:
                on_line(line)
            shown += len(batch)
            if not follow or (stop is not None and stop()):
                return shown
            self.sleep(self.poll_s)
            if stop is not None and stop():
                return shown
