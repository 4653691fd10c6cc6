"""Plain records passed between the core, the ports and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


ACTIVE, SUPERSEDED, RETIRED = "active", "superseded", "retired"
"""A memory's state: in search and listing; no longer true (kept, with valid_to); forgotten
by a model or an undo (kept, so that undo can bring it back). The user's own forget deletes."""

ORIGINS = ("user", "message", "extraction", "tool")
"""Who made a memory: typed or imported by the user; a chat message kept verbatim; distilled
from a conversation; a model's tool call. Only "user" memories (and pinned ones) are never
changed by a model."""


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
    origin: str = "user"
    importance: int | None = None
    valid_from: float | None = None
    """When the fact became true, where known (else it held from created_at)."""
    valid_to: float | None = None
    superseded_by: str | None = None
    status: str = ACTIVE
    sources: tuple[str, ...] = ()
    """Every message id the memory was distilled from."""
    conflicts_with: str | None = None
    """A pinned or hand-written memory this one contradicts (the model may not change it)."""
    processed: bool = True
    """False for a message kept verbatim while no model could distil it (`memory distill`)."""

    def held_at(self, when: float) -> bool:
        """True at `when`, by what pai knows now: from valid_from (else from when it was
        made) until valid_to. Retired memories hold at no time."""
        start = self.valid_from if self.valid_from is not None else self.created_at
        return (self.status != RETIRED and start <= when
                and (self.valid_to is None or self.valid_to > when))

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
            "origin": self.origin,
            "importance": self.importance,
            "valid_from": iso(self.valid_from),
            "valid_to": iso(self.valid_to),
            "superseded_by": self.superseded_by,
            "status": self.status,
            "sources": list(self.sources),
            "conflicts_with": self.conflicts_with,
            "processed": self.processed,
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
    origin: str = "user"
    importance: int | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    superseded_by: str | None = None
    status: str = ACTIVE
    sources: tuple[str, ...] = ()
    conflicts_with: str | None = None
    processed: bool = True


EVENT_KINDS = ("created", "updated", "superseded", "forgotten", "restored")
ACTORS = ("user", "extraction", "tool", "import", "undo")


@dataclass(frozen=True)
class MemoryEvent:
    """One change to one memory. A job's decisions (or one undo) share a batch, so undo can
    revert them together. before/after are the memory's text either side of the change
    (None where there is none, or once the user forgot the memory for good)."""

    id: str
    user_id: str
    memory_id: str
    kind: str
    actor: str
    at: float
    batch: str | None = None
    sources: tuple[str, ...] = ()
    model: str | None = None
    before: str | None = None
    after: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    """What else changed: state, category, importance, valid_to, superseded_by, links, the
    event an undo reverted."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "memory_id": self.memory_id, "kind": self.kind,
                "actor": self.actor, "at": iso(self.at), "batch": self.batch,
                "sources": list(self.sources), "model": self.model, "before": self.before,
                "after": self.after, "detail": self.detail}


@dataclass(frozen=True)
class SealedEvent:
    """An event as the store keeps it: before/after sealed like memory content."""

    id: str
    user_id: str
    memory_id: str
    kind: str
    actor: str
    at: float
    batch: str | None
    sources: tuple[str, ...]
    model: str | None
    before: bytes | None
    after: bytes | None
    detail: dict[str, Any]


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
    origin: str = "user"
    importance: int | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    superseded_by: str | None = None
    status: str = ACTIVE
    sources: tuple[str, ...] = ()
    processed: bool = True


@dataclass(frozen=True)
class ToolSpec:
    """A tool the chat model may call: its name, what it does, its JSON Schema input."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool. arguments is None when what it sent is not a JSON object
    (error says why): the call is answered with an error result, never run on a guess."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    content: dict[str, Any]
    is_error: bool = False


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" or "assistant"
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """On an assistant message: the tools it asked for (after its text, if any)."""
    tool_results: tuple[ToolResult, ...] = ()
    """On a user message: the answers to the previous message's tool calls."""


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
    """One piece of a streamed reply: text, a complete tool call, or (last) the token usage
    and stop reason ("tool_use" when the model waits for tool results)."""

    text: str = ""
    usage: Usage | None = None
    stop_reason: str | None = None
    tool_call: ToolCall | None = None


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
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """The memory tools the model called this turn: name, arguments, ok, summary."""
    redacted: list[str] = field(default_factory=list)
    """What was taken out of the message before anything was stored (kinds of secret)."""
    incognito: bool = False
    exchange: list[ChatMessage] = field(default_factory=list)
    """The history the prompt had, this message and the reply: an incognito session's
    context for its next turn."""
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
            "redacted": self.redacted,
            "tool_calls": self.tool_calls,
            "incognito": self.incognito,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class Job:
    """A durable job: its payload is read by pai_cli/core/jobs.py."""

    id: int
    user_id: str
    kind: str
    payload: bytes
    created_at: float
    tries: int = 0
    next_at: float = 0.0
    parked_at: float | None = None
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "created_at": iso(self.created_at),
                "tries": self.tries, "next_try": iso(self.next_at) if self.next_at else None,
                "parked": self.parked_at is not None, "parked_at": iso(self.parked_at),
                "last_error": self.last_error}


@dataclass(frozen=True)
class UsageRecord:
    created_at: float
    conversation_id: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    purpose: str = "chat"
    """chat (the reply) or memory (distilling and consolidating what was said)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_at": iso(self.created_at),
            "conversation_id": self.conversation_id,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "purpose": self.purpose,
        }


@dataclass(frozen=True)
class BucketState:
    """One user's token bucket as stored: tokens left at time `at` (epoch seconds), and a
    version that each write raises by one (what a conditional write compares)."""

    tokens: float
    at: float
    version: int
