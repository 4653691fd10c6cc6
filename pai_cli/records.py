"""Plain records passed between the core, the ports and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Memory:
    id: str
    user_id: str
    content: str
    category: str
    created_at: float
    updated_at: float
    expires_at: float | None
    pinned: bool
    source_conversation: str | None = None
    source_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "content": self.content,
            "category": self.category,
            "pinned": self.pinned,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
            "source_conversation": self.source_conversation,
            "source_message": self.source_message,
        }


@dataclass(frozen=True)
class SealedMemory:
    """A memory as the store keeps it: content encrypted, keyword terms blinded."""

    id: str
    user_id: str
    content: bytes
    category: str
    created_at: float
    updated_at: float
    expires_at: float | None
    pinned: bool
    terms: str
    source_conversation: str | None = None
    source_message: str | None = None


@dataclass(frozen=True)
class SealedMessage:
    id: str
    conversation_id: str
    user_id: str
    role: str
    content: bytes
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    role: str
    content: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "role": self.role,
            "content": self.content,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    created_at: float
    updated_at: float
    messages: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "messages": self.messages,
        }


@dataclass(frozen=True)
class SearchHit:
    memory: Memory
    score: float
    keyword_rank: int | None = None
    vector_rank: int | None = None
    vector_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.memory.to_dict()
        out["score"] = round(self.score, 6)
        out["keyword_rank"] = self.keyword_rank
        out["vector_rank"] = self.vector_rank
        out["vector_score"] = None if self.vector_score is None else round(self.vector_score, 6)
        return out


@dataclass(frozen=True)
class ImportRecord:
    """One validated line of an import file."""

    line: int
    content: str
    category: str
    created_at: float | None
    id: str | None
    pinned: bool = True
    source_conversation: str | None = None
    source_message: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cost_usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }


@dataclass(frozen=True)
class ReplyEvent:
    """One piece of a streamed reply: text, or (last) the token usage and stop reason."""

    text: str = ""
    usage: Usage | None = None
    stop_reason: str | None = None


@dataclass
class TurnResult:
    conversation_id: str
    user_message_id: str
    recalled: list[SearchHit] = field(default_factory=list)
    reply: str | None = None
    reply_message_id: str | None = None
    model: str | None = None
    notice: str | None = None
    usage: Usage | None = None
    interrupted: bool = False
    error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    failure: Exception | None = field(default=None, repr=False, compare=False)
    """The error behind `error`, for callers that map it to an exit code or a status."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "message_id": self.user_message_id,
            "reply": self.reply,
            "reply_message_id": self.reply_message_id,
            "model": self.model,
            "recalled": [h.to_dict() for h in self.recalled],
            "recalled_ids": [h.memory.id for h in self.recalled],
            "usage": self.usage.to_dict() if self.usage else None,
            "interrupted": self.interrupted,
            "error": self.error,
            "notice": self.notice,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class UsageRecord:
    created_at: float
    conversation_id: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_at": iso(self.created_at),
            "conversation_id": self.conversation_id,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }

