"""Reading JSONL import files: validate every line before anything is written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from pai_cli.core import text
from pai_cli.errors import InputError
from pai_cli.records import ACTIVE, ORIGINS, RETIRED, SUPERSEDED, ImportRecord

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def _timestamp(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("created_at must be an ISO 8601 date or a Unix time")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise ValueError("created_at must be an ISO 8601 date or a Unix time")


def parse_line(raw: bytes, number: int, default_category: str) -> ImportRecord:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte {e.start})") from None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
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
    created = obj.get("created_at")
    try:
        created_at = None if created is None else _timestamp(created)
    except (ValueError, OverflowError, OSError):
        raise ValueError("\"created_at\" must be an ISO 8601 date or a Unix time") from None
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
        raise ValueError(f"\"{key}\" must be an ISO 8601 date or a Unix time") from None


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
    if importance is not None and (isinstance(importance, bool) or importance not in range(1, 6)):
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
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            records.append(parse_line(raw, number, default_category))
        except ValueError as e:
            errors.append(f"line {number}: {e}")
    if errors:
        raise InputError(
            f"Nothing imported: {len(errors)} bad line(s) (listed above). Fix them and run again.",
            details=errors,
        )
    if not records:
        raise InputError("Nothing to import: the file has no lines with a \"content\" field.")
    return records
