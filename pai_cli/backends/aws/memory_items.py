"""A memory as a DynamoDB item of the memories table, and back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pai_cli.records import SealedMemory

TERMS_MAX = 120_000
"""Characters of blinded terms kept on an item (~7,000 terms): with the sealed content (at
most 64 KiB) that stays inside DynamoDB's 400 KB item; a longer note is searched by its
first terms only."""


def kept_terms(terms: str) -> str:
    if len(terms) <= TERMS_MAX:
        return terms
    return terms[:terms.rindex(" ", 0, TERMS_MAX + 1)]


def body_key(user_id: str, memory_id: str) -> str:
    return f"memories/{user_id}/{memory_id}.json"


def cat_time(category: str, created_at: float) -> str:
    return f"{category}#{created_at:020.6f}"


def to_item(m: SealedMemory) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_id": m.user_id,
        "memory_id": m.id,
        "content": m.content,
        "category": m.category,
        "created_at": Decimal(f"{m.created_at:.6f}"),
        "updated_at": Decimal(f"{m.updated_at:.6f}"),
        "cat_time": cat_time(m.category, m.created_at),
        "pinned": m.pinned,
        "s3_key": body_key(m.user_id, m.id),
    }
    if m.expires_at is not None:
        item["ttl"] = int(m.expires_at)  # DynamoDB TTL wants whole epoch seconds
        item["expires_at"] = Decimal(f"{m.expires_at:.6f}")
    for name in ("source_conversation", "source_message", "superseded_by", "conflicts_with"):
        if getattr(m, name):
            item[name] = getattr(m, name)
    item["origin"] = m.origin
    item["status"] = m.status
    item["processed"] = m.processed
    if m.importance is not None:
        item["importance"] = m.importance
    for name in ("valid_from", "valid_to"):
        if getattr(m, name) is not None:
            item[name] = Decimal(f"{getattr(m, name):.6f}")
    if m.sources:
        item["sources"] = list(m.sources)
    if m.terms:
        item["terms"] = m.terms
    return item


def _float(item: dict[str, Any], name: str) -> float | None:
    return float(item[name]) if item.get(name) is not None else None


def from_item(item: dict[str, Any]) -> SealedMemory:
    return SealedMemory(
        id=item["memory_id"],
        user_id=item["user_id"],
        content=bytes(getattr(item.get("content", b""), "value", item.get("content", b""))),
        category=item["category"],
        created_at=float(item["created_at"]),
        updated_at=float(item["updated_at"]),
        expires_at=float(item["expires_at"]) if "expires_at" in item else None,
        pinned=bool(item.get("pinned")),
        terms=item.get("terms", ""),
        source_conversation=item.get("source_conversation"),
        source_message=item.get("source_message"),
        origin=item.get("origin", "user"),
        importance=int(item["importance"]) if item.get("importance") is not None else None,
        valid_from=_float(item, "valid_from"),
        valid_to=_float(item, "valid_to"),
        superseded_by=item.get("superseded_by"),
        status=item.get("status", "active"),
        sources=tuple(item.get("sources") or ()),
        conflicts_with=item.get("conflicts_with"),
        processed=bool(item.get("processed", True)),
    )


def is_live(item: dict[str, Any], now: float) -> bool:
    # DynamoDB deletes expired items up to days later (moto never does): filter ourselves.
    return "expires_at" not in item or float(item["expires_at"]) > now
