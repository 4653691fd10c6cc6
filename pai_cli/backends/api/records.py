"""The API's JSON (api/schema.py's models) back into pai's records, so the CLI renders an
answer from the API exactly as one from a home."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pai_cli.errors import BackendError
from pai_cli.records import Memory, SearchHit, TurnResult, Usage


def _ts(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise BackendError(f"The API sent a date pai cannot read ({value!r}).") from None


def memory(d: dict[str, Any]) -> Memory:
    try:
        created = _ts(d.get("created_at")) or 0.0
        return Memory(
            id=str(d["id"]), user_id="", content=str(d["content"]),
            category=str(d["category"]), created_at=created,
            updated_at=_ts(d.get("updated_at")) or created, expires_at=_ts(d.get("expires_at")),
            pinned=bool(d.get("pinned")), source_conversation=d.get("source_conversation"),
            source_message=d.get("source_message"), origin=str(d.get("origin") or "user"),
            importance=d.get("importance"), valid_from=_ts(d.get("valid_from")),
            valid_to=_ts(d.get("valid_to")), superseded_by=d.get("superseded_by"),
            status=str(d.get("status") or "active"), sources=tuple(d.get("sources") or ()),
            conflicts_with=d.get("conflicts_with"), processed=bool(d.get("processed", True)),
        )
    except (KeyError, TypeError) as e:
        raise BackendError(f"The API sent a memory pai cannot read (missing {e}).") from None


def hit(d: dict[str, Any]) -> SearchHit:
    return SearchHit(memory(d), float(d.get("score") or 0.0), d.get("keyword_rank"),
                     d.get("vector_rank"), d.get("vector_score"))


def turn(d: dict[str, Any], failure: Exception | None = None) -> TurnResult:
    usage = d.get("usage")
    try:
        return TurnResult(
            conversation_id=str(d["conversation_id"]), user_message_id=str(d["message_id"]),
            recalled=[hit(h) for h in d.get("recalled") or []], reply=d.get("reply"),
            reply_message_id=d.get("reply_message_id"), model=d.get("model"),
            notice=d.get("notice"),
            usage=Usage(int(usage["input_tokens"]), int(usage["output_tokens"]),
                        usage.get("cost_usd")) if usage else None,
            interrupted=bool(d.get("interrupted")), error=d.get("error"),
            timings_ms=dict(d.get("timings_ms") or {}),
            tool_calls=list(d.get("tool_calls") or []), redacted=list(d.get("redacted") or []),
            failure=failure,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BackendError(f"The API sent a chat turn pai cannot read ({e}).") from None
