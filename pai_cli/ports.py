"""The Protocols the core depends on. Adapters in pai_cli/backends implement them.

This file is everything a new home must provide: the core calls nothing on an adapter that
is not declared here, and probes for nothing. Where the homes could disagree, the docstring
says what every adapter does; tests/test_homes_contract.py runs the same assertions
against each home and against the in-memory fakes in tests/fakes/."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from pai_cli.records import (
    BucketState,
    ChatMessage,
    ConversationInfo,
    Job,
    ReplyEvent,
    SealedEvent,
    SealedMemory,
    SealedMessage,
    ToolSpec,
    UsageRecord,
)

Clock = Callable[[], float]
Progress = Callable[[int, int], None]
"""Called with (done, total) as long work advances."""


class Transactional(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all (local home: one SQLite tx)."""
        ...


class MemoryStore(Transactional, Protocol):
    supports_keywords: bool
    """False where the store keeps no keyword index: search is then vector-only (both homes'
    stores keep one; the port fakes can go without)."""

    def insert(self, memories: Sequence[SealedMemory]) -> list[str]:
        """Insert; ids that already exist are skipped. Returns the ids inserted."""
        ...

    def update(self, memory: SealedMemory) -> bool:
        """Replace an existing memory of memory.user_id. False, with nothing written, when
        there is none: an update never creates a memory (an edit racing a forget must not
        bring it back)."""
        ...

    def get(self, user_id: str, memory_id: str, now: float) -> SealedMemory | None: ...
    def get_many(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]: ...
    def get_states(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        """Like get_many, but the content may be left empty (b""): search reads the state,
        category and dates of every candidate and opens only the k it returns."""
        ...

    def resolve_id(self, user_id: str, id_or_prefix: str, now: float) -> list[str]: ...

    def list(
        self, user_id: str, now: float, category: str | None, limit: int | None,
        include_inactive: bool = False,
    ) -> list[SealedMemory]:
        """Newest first; only active memories unless include_inactive (superseded and
        retired ones too). Every other read returns memories in any state."""
        ...

    def iter_all(self, user_id: str, now: float, batch: int = 1000) -> Iterator[SealedMemory]: ...
    def count(self, user_id: str, now: float) -> int: ...
    def delete(self, user_id: str, memory_id: str) -> bool: ...
    def delete_all(self, user_id: str) -> list[str]: ...
    def purge_expired(self, user_id: str, now: float) -> list[str]:
        """Delete this user's expired memories (no other user's); returns their ids."""
        ...

    def sweep_orphans(self, user_id: str) -> int:
        """Remove what an interrupted multi-step write left behind (an S3 body with no
        item); 0 where every write is one transaction. Returns how many were removed."""
        ...

    def term_shares(self, user_id: str, terms: Sequence[str]) -> dict[str, float]:
        """For blinded terms, the share of the user's memories holding each, for the terms
        common enough to matter; {} where the store keeps no keyword index, or (the AWS
        home) no counts it can read without a second round trip per term."""
        ...

    def keyword_search(
        self, user_id: str, terms: Sequence[str], k: int, category: str | None, now: float
    ) -> list[tuple[str, float]]:
        """BM25 over blinded terms; best first. A store without keyword search returns []."""
        ...

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


class VectorIndex(Protocol):
    several_per_memory: bool
    """Whether it keeps several vectors for one memory (its whole text's and its pieces',
    core/pieces.py) and answers with the best of them."""

    def upsert(self, user_id: str, items: Sequence[tuple[str, str, Any]]) -> None:
        """items: (memory_id, category, vector); every vector of a memory in one call, which
        replace the ones it had."""
        ...

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> None: ...
    def delete_user(self, user_id: str) -> None: ...

    def query(
        self, user_id: str, vector: Any, k: int, category: str | None
    ) -> list[tuple[str, float]]:
        """Nearest memories by cosine similarity, best first: (memory_id, similarity), each
        memory once, with the best of its vectors."""
        ...

    def keys_of(self, user_id: str) -> Iterator[str]:
        """Every memory id the index holds a vector for (stale ones included)."""
        ...

    def compact(self, user_id: str, progress: Progress | None = None) -> None:
        """Rebuild any side structure from the stored vectors."""
        ...

    def maintain(self, user_id: str) -> None:
        """Fold recent writes into any side structure if enough piled up (after output)."""
        ...


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Any:
        """A float32 array of shape (len(texts), dim), rows L2-normalised."""
        ...


class Cipher(Protocol):
    def seal(self, user_id: str, kind: str, record_id: str, plaintext: str) -> bytes: ...
    def open(self, user_id: str, kind: str, record_id: str, blob: bytes) -> str: ...
    def blind(self, user_id: str, terms: Iterable[str]) -> list[str]:
        """Keyed, per-user one-way tokens for the keyword index."""
        ...


class ConversationStore(Transactional, Protocol):
    remote: bool
    """True where each call is a network round trip: the turn then reads history beside
    embed-and-search instead of before it."""

    def append(self, message: SealedMessage) -> None: ...
    def last_messages(
        self, user_id: str, conversation_id: str, n: int, now: float
    ) -> list[SealedMessage]: ...
    def messages(self, user_id: str, conversation_id: str, now: float) -> list[SealedMessage]: ...
    def conversations(self, user_id: str, now: float, limit: int) -> list[ConversationInfo]: ...
    def resolve_conversation(self, user_id: str, id_or_prefix: str, now: float) -> list[str]: ...
    def delete_conversation(self, user_id: str, conversation_id: str) -> bool: ...
    def purge_expired(self, user_id: str, now: float) -> int:
        """Delete this user's expired messages where the store does not do it itself
        (DynamoDB's TTL does); returns how many. Reads never return expired ones anyway."""
        ...


class EventLog(Transactional, Protocol):
    """Every change to a memory, written in the same transaction as the change where the
    home has one (locally the same SQLite file; on AWS items beside the memories)."""

    def append(self, events: Sequence[SealedEvent]) -> None:
        """Events whose id already exists are skipped (a retried job writes them again)."""
        ...

    def of_memory(self, user_id: str, memory_id: str) -> list[SealedEvent]:
        """Oldest first."""
        ...

    def since(self, user_id: str, since: float, limit: int) -> list[SealedEvent]:
        """Newest first."""
        ...

    def of_batch(self, user_id: str, batch: str) -> list[SealedEvent]:
        """Oldest first."""
        ...

    def resolve_event(self, user_id: str, id_or_prefix: str) -> list[str]: ...
    def get_event(self, user_id: str, event_id: str) -> SealedEvent | None: ...
    def scrub(self, user_id: str, memory_id: str) -> int:
        """Drop the stored texts of a memory's events (the user forgot it for good)."""
        ...

    def delete_user(self, user_id: str) -> int: ...


class WorkQueue(Transactional, Protocol):
    """Durable jobs written in the same transaction as the data that needs them. Payloads
    are opaque bytes here; pai_cli/core/jobs.py is their one codec. A job that fails is
    tried again after next_at and parked after a few tries; parked jobs wait for retry()."""

    def enqueue(self, user_id: str, kind: str, payload: bytes, now: float) -> int: ...
    def pending(self, user_id: str, limit: int, now: float) -> list[Job]:
        """Due jobs (next_at <= now, not parked), oldest first."""
        ...

    def jobs(self, user_id: str) -> list[Job]:
        """Every job of the user, parked ones included, oldest first."""
        ...

    def fail(self, job_id: int, error: str, next_at: float, park: bool, now: float) -> None:
        """Record a failed try: the count goes up, the error is kept, and the job waits
        until next_at (or, parked, until retry)."""
        ...

    def retry(self, user_id: str, job_ids: Sequence[int] | None = None) -> int:
        """Make parked (or waiting) jobs due now, with their try count reset."""
        ...

    def discard(self, user_id: str, prefix: bytes = b"") -> int:
        """Drop the user's jobs whose payload starts with prefix (all of them by default)."""
        ...
    def done(self, job_id: int) -> bool:
        """Remove the job; False when another worker already had (ids are never reused)."""
        ...


class ChatModel(Protocol):
    provider: str
    model_id: str

    def stream(
        self, system: str, messages: Sequence[ChatMessage], max_tokens: int,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ReplyEvent]:
        """The reply as it arrives; the last event carries the usage and the stop reason.
        With tools, a call the model makes arrives as one ReplyEvent(tool_call=...) once its
        arguments are complete, and the stop reason is "tool_use"; the caller runs the tools
        and calls stream again with the assistant's message (tool_calls) and a user message
        of tool_results appended. Raises PaiError subclasses (ModelError) with a one-line
        message for what the provider refused."""
        ...


class SecretFinder(Protocol):
    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, kind) of each secret in the text: keys, tokens, passwords, cards."""
        ...


class UsageLog(Protocol):
    def record(self, user_id: str, record: UsageRecord) -> None: ...
    def records(self, user_id: str, since: float) -> list[UsageRecord]: ...


class BucketStore(Protocol):
    """Where the per-user request buckets live (core/rate_limit.py). Every home that limits
    requests provides the same two calls; the limiter's correctness rests on write being
    conditional on the version it read."""

    def read(self, user_id: str) -> BucketState | None:
        """The bucket as last written (a strongly consistent read); None: no bucket yet."""
        ...

    def write(self, user_id: str, state: BucketState, expected_version: int | None,
              expires_at: float) -> bool:
        """Store state only if the stored bucket still has expected_version (None: only if
        there is none); False when another writer came first, with nothing written.
        expires_at: after it the bucket may be dropped (it would be full again by then)."""
        ...
