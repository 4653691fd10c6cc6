"""Long-term memory: add, read, change, forget, search, import, export, reindex."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pai_cli.core import memory_io, pieces, recall, text
from pai_cli.core.events import new_event_id, seal_event
from pai_cli.core.ids import new_memory_id
from pai_cli.core.index_stamp import IndexStamp
from pai_cli.core.redact import redact
from pai_cli.core.sealing import MemorySealer
from pai_cli.errors import InputError, NotFound
from pai_cli.ports import (
    Cipher,
    Clock,
    Embedder,
    EventLog,
    MemoryStore,
    Progress,
    SecretFinder,
    VectorIndex,
)
from pai_cli.records import (
    RETIRED,
    ImportRecord,
    Memory,
    MemoryEvent,
    SearchHit,
)

DAY = 86400.0


@dataclass(frozen=True)
class MemorySettings:
    ttl_days: float = 365.0
    default_category: str = "general"
    candidates: int = 50
    """How many vector candidates feed the fusion; more helps recall, costs time."""
    keyword_candidates: int = 50
    """How many keyword candidates: as many as vector ones, since on questions that name
    people, places and things keyword evidence is the strongest (README, design notes)."""
    min_score: float = 0.01
    """Below this relevance (0-1, a fitted probability: fusion.py) a memory is not recalled
    at all. 0.01 drops the noise of an unrelated question and costs 1-3% of R@10 on
    bench/conversations (README, design notes)."""
    common_share: float = 0.2
    """Words in more than this share of the memories (a speaker's name on every line of a
    chat) are left out of the vector query, or with MiniLM weigh half in it (the question
    asked with and without them: core/recall.vector_list): in an averaged embedding they
    pull every memory that has them closer, whatever else it says."""


class MemoryService:
    def __init__(
        self,
        store: MemoryStore,
        index: VectorIndex,
        embedder: Embedder,
        cipher: Cipher,
        clock: Clock,
        events: EventLog,
        settings: MemorySettings | None = None,
        atomic_index: bool = False,
        secrets: SecretFinder | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        """atomic_index: the wiring says whether this store and this index commit in one
        transaction (the local home); where they do not, writes index every id again and
        reindex sweeps vectors whose memory is gone. notify: where to tell the user about a
        memory that cannot be read (each is named once)."""
        self.store = store
        self.index = index
        self.embedder = embedder
        self.cipher = cipher
        self.clock = clock
        self.events = events
        self.settings = settings or MemorySettings()
        self.atomic_index = atomic_index
        self.secrets = secrets
        self.sealer = MemorySealer(cipher, store.supports_keywords, notify)
        self.stamp = IndexStamp(store, embedder, clock)

    @property
    def unreadable(self) -> dict[str, str]:
        """Memories left out of a read because they cannot be read: id -> why."""
        return self.sealer.unreadable

    @property
    def model_tag(self) -> str:
        return self.stamp.model_tag

    def check_model(self, user_id: str, writing: bool = False) -> None:
        """Refuse a search (or, writing, a write) the index cannot serve (IndexStamp)."""
        self.stamp.check(user_id, writing)


    # -- sealing -----------------------------------------------------------------------
    def expiry(self, created_at: float, pinned: bool) -> float | None:
        return None if pinned else created_at + self.settings.ttl_days * DAY

    def embed_memories(self, contents: Sequence[str]) -> list[list[Any]]:
        """Each text's vectors: the whole text's first, then, where the index keeps several
        for a memory, one per piece (core/pieces.py). One embed call for all of them."""
        split = [pieces.pieces(c) if self.index.several_per_memory else [] for c in contents]
        flat = self.embedder.embed([*contents, *(p for ps in split for p in ps)])
        out: list[list[Any]] = []
        at = len(contents)
        for i, ps in enumerate(split):
            out.append([flat[i], *flat[at:at + len(ps)]])
            at += len(ps)
        return out

    def write(self, memories: Sequence[Memory], vectors: Sequence[Sequence[Any]] | None = None,
               events: Sequence[MemoryEvent] = ()) -> list[str]:
        """Store and index memories, and record their events, in one transaction; existing
        ids are skipped (and so are their events). vectors: embed_memories() of their
        contents, when the caller made them already."""
        if not memories:
            return []
        if vectors is None:
            vectors = self.embed_memories([m.content for m in memories])
        sealed = [self.sealer.seal(m) for m in memories]
        user_id = memories[0].user_id
        with self.store.transaction():
            self.stamp.claim(user_id)
            inserted = set(self.store.insert(sealed))
            # Where the item and its vector are not one transaction (AWS), an item may have
            # been committed by an attempt whose vector write then failed: index every id
            # again (vector writes are keyed by id, so this is idempotent).
            indexed = inserted if self.atomic_index else {m.id for m in memories}
            self.index.upsert(
                user_id,
                [(m.id, m.category, v) for m, vs in zip(memories, vectors, strict=True)
                 if m.id in indexed for v in vs],
            )
            self.events.append([seal_event(self.cipher, e) for e in events
                                if e.memory_id in inserted])
        return [m.id for m in memories if m.id in inserted]

    def event(self, m: Memory, kind: str, actor: str, *, before: str | None = None,
              after: str | None = None, batch: str | None = None,
              sources: Sequence[str] = (), model: str | None = None,
              detail: dict[str, Any] | None = None, event_id: str | None = None,
              at: float | None = None) -> MemoryEvent:
        return MemoryEvent(event_id or new_event_id(), m.user_id, m.id, kind, actor,
                           self.clock() if at is None else at, batch, tuple(sources), model,
                           before, after, detail or {})

    def redact(self, content: str) -> tuple[str, list[str]]:
        """The text without its secrets, and what was taken out (see core/redact.py)."""
        return redact(content, self.secrets)

    # -- commands ----------------------------------------------------------------------
    def add(
        self,
        user_id: str,
        content: str,
        category: str | None = None,
        pinned: bool = True,
        source_conversation: str | None = None,
        source_message: str | None = None,
        memory_id: str | None = None,
        *,
        origin: str = "user",
        actor: str = "user",
        importance: int | None = None,
        valid_from: float | None = None,
        sources: Sequence[str] = (),
        processed: bool = True,
        conflicts_with: str | None = None,
        batch: str | None = None,
        model: str | None = None,
        event_id: str | None = None,
    ) -> Memory:
        content, _ = self.redact(text.clean_text(content, "memory"))
        now = self.clock()
        memory = Memory(
            id=memory_id or new_memory_id(),
            user_id=user_id,
            content=content,
            category=text.clean_category(category, self.settings.default_category),
            created_at=now,
            updated_at=now,
            expires_at=self.expiry(now, pinned),
            pinned=pinned,
            source_conversation=source_conversation,
            source_message=source_message,
            origin=origin, importance=importance, valid_from=valid_from,
            sources=tuple(sources) or ((source_message,) if source_message else ()),
            processed=processed, conflicts_with=conflicts_with,
        )
        detail: dict[str, Any] = {"origin": origin, "category": memory.category}
        if conflicts_with:
            detail["conflicts_with"] = conflicts_with
        self.write([memory], events=[self.event(
            memory, "created", actor, after=content, batch=batch, sources=memory.sources,
            model=model, detail=detail, event_id=event_id)])
        return memory

    def resolve(self, user_id: str, id_or_prefix: str) -> str:
        wanted = id_or_prefix.strip()
        if not wanted:
            raise InputError("The memory id is empty: give an id from `pai memory list`.")
        matches = self.store.resolve_id(user_id, wanted, self.clock())
        if len(matches) > 1 or (matches and matches[0] != wanted):
            if len(wanted.removeprefix("mem-")) < 4:
                raise InputError(
                    f"{wanted!r} is too short to pick a memory: give at least 4 characters "
                    "of the id after mem-."
                )
        if not matches:
            raise NotFound(f"No memory {wanted!r} for user {user_id!r}: see `pai memory list`.")
        if len(matches) > 1:
            raise InputError(
                f"{wanted!r} matches {len(matches)} memories: give more of the id."
            )
        return matches[0]

    def get(self, user_id: str, id_or_prefix: str) -> Memory:
        memory_id = self.resolve(user_id, id_or_prefix)
        sealed = self.store.get(user_id, memory_id, self.clock())
        if sealed is None:
            raise NotFound(f"No memory {id_or_prefix!r} for user {user_id!r}.")
        return self.sealer.open(sealed)

    def list(self, user_id: str, category: str | None = None, limit: int | None = 50,
             include_inactive: bool = False) -> list[Memory]:
        if limit is not None and limit < 1:
            raise InputError("--limit must be at least 1.")
        cat = text.clean_category(category) if category else None
        now = self.clock()
        want = limit
        while True:
            rows = self.store.list(user_id, now, cat, want, include_inactive)
            found = list(self.sealer.readable(rows))
            if want is None or limit is None or len(found) >= limit or len(rows) < want:
                return found if limit is None else found[:limit]
            want += limit - len(found)  # rows that cannot be read were left out: ask for more

    def change(self, old: Memory, new: Memory, kind: str, actor: str, *,
               batch: str | None = None, sources: Sequence[str] = (),
               model: str | None = None, detail: dict[str, Any] | None = None,
               event_id: str | None = None) -> Memory:
        """Replace a memory and record the change as one event, in one transaction; the
        vector is rewritten when the text or category changed."""
        moved = new.content != old.content or new.category != old.category
        vectors = self.embed_memories([new.content])[0] if moved else None
        fields = ("status", "category", "importance", "valid_from", "valid_to",
                  "superseded_by", "pinned", "expires_at", "conflicts_with", "processed")
        changes = {f: [getattr(old, f), getattr(new, f)] for f in fields
                   if getattr(old, f) != getattr(new, f)}
        event = self.event(new, kind, actor, batch=batch, sources=sources, model=model,
                           before=old.content if new.content != old.content else None,
                           after=new.content if new.content != old.content else None,
                           detail={**(detail or {}), **({"changes": changes} if changes else {})},
                           event_id=event_id)
        with self.store.transaction():
            self.stamp.claim(new.user_id)
            if not self.store.update(self.sealer.seal(new)):
                raise NotFound(f"Memory {new.id} was forgotten meanwhile.")
            if vectors is not None:
                self.index.upsert(new.user_id, [(new.id, new.category, v) for v in vectors])
            self.events.append([seal_event(self.cipher, event)])
        return new

    def edit(self, user_id: str, id_or_prefix: str, content: str, actor: str = "user",
             batch: str | None = None) -> Memory:
        content, _ = self.redact(text.clean_text(content, "memory"))
        old = self.get(user_id, id_or_prefix)
        now = self.clock()
        return self.change(old, replace(old, content=content, updated_at=now), "updated",
                           actor, batch=batch)

    def set_pinned(self, user_id: str, id_or_prefix: str, pinned: bool) -> Memory:
        old = self.get(user_id, id_or_prefix)
        now = self.clock()
        new = replace(
            old, pinned=pinned, updated_at=now,
            # An unpinned memory's year starts now: unpinning must not delete it on the spot.
            expires_at=self.expiry(now, pinned),
        )
        return self.change(old, new, "updated", "user")

    def retire(self, user_id: str, id_or_prefix: str, actor: str, batch: str | None = None,
               model: str | None = None) -> Memory:
        """Forgotten by a model (or an undo): hidden everywhere, kept so undo brings it back."""
        old = self.get(user_id, id_or_prefix)
        if old.status == RETIRED:
            return old
        return self.change(old, replace(old, status=RETIRED, updated_at=self.clock()),
                           "forgotten", actor, batch=batch, model=model)

    def forget(self, user_id: str, id_or_prefix: str) -> str:
        """The user forgets a memory for good: its text, its vector and the history's copies
        of its text go; an event without text says when."""
        memory_id = self.resolve(user_id, id_or_prefix)
        with self.store.transaction():
            self.store.delete(user_id, memory_id)
            self.index.delete(user_id, [memory_id])
            self.events.scrub(user_id, memory_id)
            self.events.append([seal_event(self.cipher, MemoryEvent(
                new_event_id(), user_id, memory_id, "forgotten", "user", self.clock(),
                detail={"deleted": True}))])
        return memory_id

    def forget_all(self, user_id: str) -> int:
        with self.store.transaction():
            gone = self.store.delete_all(user_id)
            self.index.delete_user(user_id)
            self.events.delete_user(user_id)
            self.stamp.forget(user_id)
        return len(gone)

    def purge_expired(self, user_id: str) -> int:
        now = self.clock()
        with self.store.transaction():
            gone = self.store.purge_expired(user_id, now)
            if gone:
                self.index.delete(user_id, gone)
        return len(gone)

    def count(self, user_id: str) -> int:
        return self.store.count(user_id, self.clock())

    # -- search (core/recall.py) -------------------------------------------------------
    def search(
        self, user_id: str, query: str, k: int = 5, category: str | None = None,
        mode: str = "hybrid", min_score: float | None = None, as_of: float | None = None,
    ) -> list[SearchHit]:
        """The k most relevant memories, best first (recall.search says how they are
        scored and which are left out)."""
        return recall.search(self, user_id, query, k, category, mode, min_score, as_of)

    # -- import / export / reindex (core/memory_io.py) ----------------------------------
    def export(self, user_id: str) -> Iterator[Memory]:
        """Every memory that can be read (see self.unreadable for those that cannot)."""
        yield from self.sealer.readable(self.store.iter_all(user_id, self.clock()))

    def import_records(self, user_id: str, records: Sequence[ImportRecord],
                       batch_size: int = 500,
                       on_batch: Callable[[int, int, int], None] | None = None,
                       ) -> tuple[int, int]:
        """Write validated records in all-or-nothing batches. Returns (added, skipped);
        on_batch(done, added, total) runs after each batch is committed, never before."""
        return memory_io.import_records(self, user_id, records, batch_size, on_batch)

    def reindex(self, user_id: str, progress: Progress | None = None, batch: int = 500) -> int:
        """Re-embed and re-blind every memory of the user, then rebuild the vector index
        (memory_io.reindex: writes go on meanwhile, an interrupted run is said to be)."""
        return memory_io.reindex(self, user_id, progress, batch)

    def maintain(self, user_id: str) -> None:
        """Housekeeping a write command does after its output is shown."""
        self.index.maintain(user_id)
