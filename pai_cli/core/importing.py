"""Reading JSONL import files: validate every line before anything is written."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from pai_cli.core import text
from pai_cli.errors import InputError
from pai_cli.records import ACTIVE, ORIGINS, RETIRED, SUPERSEDED, ImportRecord

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
BOM = b"\xef\xbb\xbf"
EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
"""The dates an import may carry. Every stored date is shown as an ISO 8601 date, which
cannot go past year 9999; the bound leaves room for an expiry (at most 100 years later,
config.MAX_TTL_DAYS) to be shown too. A date outside it would make every later read of the
user fail, so it is refused here, by line."""
DATE_RANGE = "between 0001-01-01 and 9000-01-01"


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _timestamp(value: object) -> float:
    """Unix seconds from a Unix time or an ISO 8601 date; ValueError if it is neither or
    falls outside EARLIEST..LATEST (NaN and infinities included)."""
    if isinstance(value, bool):
        raise ValueError("not a date")
    if isinstance(value, int | float):
        ts = float(value)  # OverflowError for an int too big for a float
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ts = parsed.timestamp()
    else:
        raise ValueError("not a date")
    if not (math.isfinite(ts) and EARLIEST <= ts < LATEST):
        raise ValueError("out of range")
    return ts


def parse_line(raw: bytes, number: int, default_category: str) -> ImportRecord:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte {e.start})") from None
    try:
        obj = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    except ValueError as e:  # NaN/Infinity, or an integer with thousands of digits
        raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with a \"content\" field")
    content = obj.get("content")
    if not isinstance(content, str):
        raise ValueError("\"content\" is missing or not a string")
    try:
        content = text.clean_text(content, "content")
        category = obj.get("category")
        if category is not None and not isinstance(category, str):
            raise ValueError("\"category\" must be a string")
        category = text.clean_category(category, default_category)
    except InputError as e:
        raise ValueError(e.message) from None
    created_at = _optional_time(obj, "created_at")
    memory_id = obj.get("id")
    if memory_id is not None and (not isinstance(memory_id, str) or not _ID.fullmatch(memory_id)):
        raise ValueError("\"id\" must be 1-128 letters, digits, '.', '_', ':' or '-'")
    pinned = obj.get("pinned", True)
    if not isinstance(pinned, bool):
        raise ValueError("\"pinned\" must be true or false")
    return ImportRecord(number, content, category, created_at, memory_id, pinned,
                        **_life(obj))


def _optional_time(obj: dict, key: str) -> float | None:
    value = obj.get(key)
    try:
        return None if value is None else _timestamp(value)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"\"{key}\" must be an ISO 8601 date or a Unix time {DATE_RANGE}"
                         ) from None


def _life(obj: dict) -> dict:
    """The optional fields `pai memory export` writes, so a backup keeps each memory's life:
    who made it, when it held, what superseded it, where it came from."""
    origin = obj.get("origin", "user")
    if origin not in ORIGINS:
        raise ValueError(f"\"origin\" must be one of {', '.join(ORIGINS)}")
    status = obj.get("status", ACTIVE)
    if status not in (ACTIVE, SUPERSEDED, RETIRED):
        raise ValueError("\"status\" must be active, superseded or retired")
    importance = obj.get("importance")
    if importance is not None and (type(importance) is not int or importance not in range(1, 6)):
        raise ValueError("\"importance\" must be a whole number from 1 to 5")
    superseded_by = obj.get("superseded_by")
    if superseded_by is not None and (not isinstance(superseded_by, str)
                                      or not _ID.fullmatch(superseded_by)):
        raise ValueError("\"superseded_by\" must be a memory id")
    sources = obj.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(x, str) and _ID.fullmatch(x)
                                                for x in sources):
        raise ValueError("\"sources\" must be a list of message ids")
    processed = obj.get("processed", True)
    if not isinstance(processed, bool):
        raise ValueError("\"processed\" must be true or false")
    return {"origin": origin, "status": status, "importance": importance,
            "superseded_by": superseded_by, "sources": tuple(sources), "processed": processed,
            "valid_from": _optional_time(obj, "valid_from"),
            "valid_to": _optional_time(obj, "valid_to")}


def parse_jsonl(lines: Iterable[bytes], default_category: str = "general") -> list[ImportRecord]:
    """Every line checked; raises one InputError listing each bad line by number."""
    records: list[ImportRecord] = []
    errors: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r\n")
        if number == 1:
            raw = raw.removeprefix(BOM)  # what Windows editors put before "UTF-8" text
        if not raw.strip():
            continue
        try:
            record = parse_line(raw, number, default_category)
        except ValueError as e:
            errors.append(f"line {number}: {e}")
            continue
        if record.id is not None:
            # One id twice would mean one memory silently replacing another, and which one
            # would depend on where the batches happen to split: refuse it.
            first = first_line_of.setdefault(record.id, number)
            if first != number:
                errors.append(f"line {number}: id {record.id!r} is also on line {first}: "
                              "give each memory its own id")
                continue
        records.append(record)
    if errors:
        raise InputError(
            f"Nothing imported: {len(errors)} bad line(s) (listed above). Fix them and run again.",
            details=errors,
        )
    if not records:
        raise InputError("Nothing to import: the file has no lines with a \"content\" field.")
    return records
