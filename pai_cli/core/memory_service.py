"""Long-term memory: add, read, change, forget, search, import, export, reindex."""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pai_cli.core import fusion, text, timeframe
from pai_cli.core.events import new_event_id, seal_event
from pai_cli.core.redact import redact
from pai_cli.errors import InputError, ModelMismatch, NotFound, UnreadableRecord
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
    ACTIVE,
    RETIRED,
    ImportRecord,
    Memory,
    MemoryEvent,
    SealedMemory,
    SearchHit,
)

KIND = "memory"
DAY = 86400.0
SHOWABLE = (-62135596800.0, 253402300799.0)
"""0001-01-01 to 9999-12-31 (UTC): the dates a record can be shown with (records.iso)."""
REINDEX_LEASE_S = 300.0
"""A reindex marker with no progress for this long belongs to a reindex that was stopped
without a chance to say so (SIGKILL, power cut): each batch renews it."""
_IMPORT_NS = uuid.UUID("6f1d8c52-3b1e-4c59-9a63-2f0f3d1c7a10")


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
    chat) are left out of the vector query: in an averaged embedding they pull every memory
    that has them closer, whatever else it says."""


def _current(s: SealedMemory, as_of: float | None) -> bool:
    """In a default search: active. With as_of: held at that time (Memory.held_at)."""
    if as_of is None:
        return s.status == ACTIVE
    start = s.valid_from if s.valid_from is not None else s.created_at
    return s.status != RETIRED and start <= as_of and (s.valid_to is None or s.valid_to > as_of)


def new_memory_id() -> str:
    return f"mem-{uuid.uuid4()}"


def derived_memory_id(*parts: str) -> str:
    """A stable id for a memory made from other data, so writing it twice is a no-op."""
    return f"mem-{uuid.uuid5(_IMPORT_NS, chr(31).join(parts))}"


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
        self.notify = notify
        self.unreadable: dict[str, str] = {}
        """Memories left out of a read because they cannot be read: id -> why."""

    # -- model bookkeeping -------------------------------------------------------------
    @property
    def model_tag(self) -> str:
        return f"{self.embedder.model_id}:{self.embedder.dim}"

    def _model_key(self, user_id: str) -> str:
        return f"embed_model:{user_id}"

    def _reindex_key(self, user_id: str) -> str:
        return f"reindexing:{user_id}"

    def _reindexing(self, user_id: str) -> tuple[str, bool, float] | None:
        """The reindex under way or left unfinished: (the model it embeds with, whether it is
        still running, seconds since its last progress); None when there is none."""
        raw = self.store.get_meta(self._reindex_key(user_id))
        if not raw:
            return None
        try:
            marker = json.loads(raw)
            tag, at, stopped = str(marker["model"]), float(marker["at"]), bool(marker["stopped"])
        except (ValueError, TypeError, KeyError):  # a marker of an older pai: plain model tag
            return raw, False, math.inf
        idle = max(0.0, self.clock() - at)
        return tag, not stopped and idle < REINDEX_LEASE_S, idle

    def _mark_reindex(self, user_id: str, stopped: bool = False) -> None:
        self.store.set_meta(self._reindex_key(user_id), json.dumps(
            {"model": self.model_tag, "at": self.clock(), "stopped": stopped}))

    def check_model(self, user_id: str, writing: bool = False) -> None:
        """Refuse a search (or, writing, a write) the index cannot serve correctly.

        While a reindex runs, writes with its model are accepted (it re-embeds or keeps
        them), and so are searches when it rebuilds with the model the index already has;
        after one was stopped, search waits for it to be run again, as before."""
        built = self.store.get_meta(self._model_key(user_id))
        reindex = self._reindexing(user_id)
        if reindex is not None:
            tag, running, idle = reindex
            if writing and tag == self.model_tag:
                return
            if running and not writing and tag == self.model_tag and built in (None, tag):
                return
            if running:
                raise ModelMismatch(
                    f"A reindex of your memories is running (last progress {idle:.0f} s ago): "
                    "try again when it has finished. If it was stopped, run `pai memory "
                    "reindex` again."
                )
            raise ModelMismatch(
                "A reindex of your memories was interrupted: run `pai memory reindex` again "
                "to finish it."
            )
        if built is not None and built != self.model_tag:
            raise ModelMismatch(
                f"Your memories were indexed with {built}, but pai now embeds with "
                f"{self.model_tag}. Run `pai memory reindex` to rebuild the index."
            )

    def _claim_model(self, user_id: str) -> None:
        self.check_model(user_id, writing=True)
        if self.store.get_meta(self._model_key(user_id)) is None:
            self.store.set_meta(self._model_key(user_id), self.model_tag)

    # -- sealing -----------------------------------------------------------------------
    def _expiry(self, created_at: float, pinned: bool) -> float | None:
        return None if pinned else created_at + self.settings.ttl_days * DAY

    def _seal(self, m: Memory) -> SealedMemory:
        blob = self.cipher.seal(m.user_id, KIND, m.id, m.content)
        terms = ""
        if self.store.supports_keywords:
            terms = " ".join(self.cipher.blind(m.user_id, text.terms(m.content)))
        return SealedMemory(
            id=m.id,
            user_id=m.user_id,
            content=blob,
            category=m.category,
            created_at=m.created_at,
            updated_at=m.updated_at,
            expires_at=m.expires_at,
            pinned=m.pinned,
            terms=terms,
            source_conversation=m.source_conversation,
            source_message=m.source_message,
            origin=m.origin, importance=m.importance, valid_from=m.valid_from,
            valid_to=m.valid_to, superseded_by=m.superseded_by, status=m.status,
            sources=m.sources, conflicts_with=m.conflicts_with, processed=m.processed,
        )

    def _open(self, s: SealedMemory) -> Memory:
        """The memory in clear; UnreadableRecord (naming it, with what to do) when its text
        does not decrypt or a date of it cannot be shown."""
        try:
            content = self.cipher.open(s.user_id, KIND, s.id, s.content)
        except UnreadableRecord as e:
            raise _unreadable(s.id, e.message) from None
        except UnicodeDecodeError:
            raise _unreadable(s.id, f"memory {s.id} decrypts to text that is not UTF-8.") from None
        for name in ("created_at", "updated_at", "expires_at", "valid_from", "valid_to"):
            value = getattr(s, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)
                                          and SHOWABLE[0] <= value <= SHOWABLE[1]):
                raise _unreadable(s.id, f"memory {s.id} has a {name} that is not a date "
                                        f"({value!r}).")
        return Memory(
            id=s.id,
            user_id=s.user_id,
            content=content,
            category=s.category,
            created_at=s.created_at,
            updated_at=s.updated_at,
            expires_at=s.expires_at,
            pinned=s.pinned,
            source_conversation=s.source_conversation,
            source_message=s.source_message,
            origin=s.origin, importance=s.importance, valid_from=s.valid_from,
            valid_to=s.valid_to, superseded_by=s.superseded_by, status=s.status,
            sources=s.sources, conflicts_with=s.conflicts_with, processed=s.processed,
        )

    def _readable(self, rows: Iterable[SealedMemory]) -> Iterator[Memory]:
        """Every row that can be read; the others are left out and named (once each), so
        one damaged record never blocks the rest of the user's memories."""
        for s in rows:
            try:
                yield self._open(s)
            except UnreadableRecord as e:
                if s.id not in self.unreadable:
                    self.unreadable[s.id] = e.message
                    if self.notify is not None:
                        self.notify(f"left out: {e.message}")

    def _hits(self, user_id: str,
              ranked: Sequence[tuple[str, float, int | None, int | None, float | None]],
              k: int, now: float) -> list[SearchHit]:
        """The first k ranked memories that can be read. Only those are read whole and
        opened; a row gone between the two reads (forgotten by another process just now)
        is left out, and so is one that cannot be read (named, and the next one taken)."""
        hits: list[SearchHit] = []
        start = 0
        while len(hits) < k and start < len(ranked):
            chunk = ranked[start:start + k - len(hits)]
            start += len(chunk)
            full = {s.id: s for s in self.store.get_many(user_id, [r[0] for r in chunk], now)}
            for mid, score, k_rank, v_rank, v_score in chunk:
                if mid in full:
                    hits.extend(SearchHit(memory, score, k_rank, v_rank, v_score)
                                for memory in self._readable([full[mid]]))
        return hits

    def _write(self, memories: Sequence[Memory], vectors: Any = None,
               events: Sequence[MemoryEvent] = ()) -> list[str]:
        """Store and index memories, and record their events, in one transaction; existing
        ids are skipped (and so are their events)."""
        if not memories:
            return []
        if vectors is None:
            vectors = self.embedder.embed([m.content for m in memories])
        sealed = [self._seal(m) for m in memories]
        user_id = memories[0].user_id
        with self.store.transaction():
            self._claim_model(user_id)
            inserted = set(self.store.insert(sealed))
            # Where the item and its vector are not one transaction (AWS), an item may have
            # been committed by an attempt whose vector write then failed: index every id
            # again (vector writes are keyed by id, so this is idempotent).
            indexed = inserted if self.atomic_index else {m.id for m in memories}
            self.index.upsert(
                user_id,
                [(m.id, m.category, v) for m, v in zip(memories, vectors, strict=True)
                 if m.id in indexed],
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
            expires_at=self._expiry(now, pinned),
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
        self._write([memory], events=[self.event(
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
        return self._open(sealed)

    def list(self, user_id: str, category: str | None = None, limit: int | None = 50,
             include_inactive: bool = False) -> list[Memory]:
        if limit is not None and limit < 1:
            raise InputError("--limit must be at least 1.")
        cat = text.clean_category(category) if category else None
        now = self.clock()
        want = limit
        while True:
            rows = self.store.list(user_id, now, cat, want, include_inactive)
            found = list(self._readable(rows))
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
        vector = self.embedder.embed([new.content])[0] if moved else None
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
            self._claim_model(new.user_id)
            if not self.store.update(self._seal(new)):
                raise NotFound(f"Memory {new.id} was forgotten meanwhile.")
            if vector is not None:
                self.index.upsert(new.user_id, [(new.id, new.category, vector)])
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
            expires_at=self._expiry(now, pinned),
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
            self.store.set_meta(self._model_key(user_id), "")
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

    # -- search ------------------------------------------------------------------------
    def search(
        self, user_id: str, query: str, k: int = 5, category: str | None = None,
        mode: str = "hybrid", min_score: float | None = None, as_of: float | None = None,
    ) -> list[SearchHit]:
        """The k most relevant memories, best first: only active ones, or with as_of, those
        that held at that time (superseded ones included; see Memory.held_at).

        In hybrid mode the score is a relevance in 0-1 (fusion.py) and memories under
        min_score (default: the settings') are not returned at all; keyword and vector
        modes return their own scores (keyword: BM25 scaled so that holding every query
        term is ~1; vector: the cosine) and no floor unless one is given."""
        query = text.clean_text(query, "query")
        if k < 1:
            raise InputError("-n must be at least 1.")
        if min_score is not None and not 0.0 <= min_score <= 1.0:
            raise InputError("--min-score must be between 0 and 1.")
        cat = text.clean_category(category) if category else None
        self.check_model(user_id)
        now = self.clock()
        n = max(self.settings.candidates, k)
        keyword: list[tuple[str, float]] = []
        vector: list[tuple[str, float]] = []
        qterms = list(dict.fromkeys(text.terms(query)))
        blinded = self.cipher.blind(user_id, qterms) if self.store.supports_keywords else []
        if mode in ("hybrid", "keyword") and blinded:
            kn = max(self.settings.keyword_candidates, k)
            keyword = self.store.keyword_search(user_id, blinded, kn, cat, now)
        if mode in ("hybrid", "vector"):
            vec = self.embedder.embed([self._vector_query(user_id, query, qterms, blinded)])[0]
            vector = self.index.query(user_id, vec, n, cat)
        # Rows gone since the index was written (forgotten, expired) must not count, not
        # even as the best cosine another candidate is measured against: one lookup of
        # every candidate's state (no content, no decryption) before scoring.
        ids = list(dict.fromkeys([m for m, _ in keyword] + [m for m, _ in vector]))
        rows = {s.id: s for s in self.store.get_states(user_id, ids, now)
                if (not cat or s.category == cat) and _current(s, as_of)}
        keyword = [kv for kv in keyword if kv[0] in rows]
        vector = [kv for kv in vector if kv[0] in rows]
        if mode == "hybrid":
            cands = fusion.candidates(keyword, vector)
            period = timeframe.period(query, now)
            if period is not None:
                cands = fusion.with_time(cands, {m: r.created_at for m, r in rows.items()},
                                         period)
            floor = self.settings.min_score if min_score is None else min_score
            ranked = [(f.memory_id, f.score, f.keyword_rank, f.vector_rank, f.vector_score)
                      for f in fusion.fuse(cands, fusion.model_for(self.embedder.model_id))
                      if f.score >= floor]
        else:
            floor = min_score or 0.0
            own = keyword if mode == "keyword" else vector
            ranked = [(mid, score, i if mode == "keyword" else None,
                       i if mode == "vector" else None, score if mode == "vector" else None)
                      for i, (mid, score) in enumerate(own, 1) if score >= floor]
        return self._hits(user_id, ranked, k, now)

    def _vector_query(self, user_id: str, query: str, qterms: list[str],
                      blinded: list[str]) -> str:
        """The query without the words most memories hold (settings.common_share)."""
        if not blinded:
            return query
        shares = self.store.term_shares(user_id, blinded)
        common = {t for t, b in zip(qterms, blinded, strict=True)
                  if shares.get(b, 0.0) > self.settings.common_share}
        if not common:
            return query
        kept = [w for w in query.split() if not common.intersection(text.terms(w))]
        return " ".join(kept) or query

    # -- import / export / reindex -----------------------------------------------------
    def export(self, user_id: str) -> Iterator[Memory]:
        """Every memory that can be read (see self.unreadable for those that cannot)."""
        yield from self._readable(self.store.iter_all(user_id, self.clock()))

    def import_records(
        self,
        user_id: str,
        records: Sequence[ImportRecord],
        batch_size: int = 500,
        on_batch: Callable[[int, int, int], None] | None = None,
    ) -> tuple[int, int]:
        """Write validated records in all-or-nothing batches. Returns (added, skipped).

        on_batch(done, added, total) runs after each batch is committed, never before.
        """
        now = self.clock()
        added = skipped = done = 0

        def memories_of(chunk: Sequence[ImportRecord]) -> list[Memory]:
            batch = []
            for r in chunk:
                created = r.created_at if r.created_at is not None else now
                batch.append(Memory(
                    id=r.id or derived_memory_id(user_id, r.content, str(r.created_at)),
                    user_id=user_id,
                    content=r.content,
                    category=r.category,
                    created_at=created,
                    updated_at=created,
                    expires_at=self._expiry(created, r.pinned),
                    pinned=r.pinned,
                    source_conversation=r.source_conversation,
                    source_message=r.source_message,
                    origin=r.origin, importance=r.importance, valid_from=r.valid_from,
                    valid_to=r.valid_to, superseded_by=r.superseded_by, status=r.status,
                    sources=r.sources, processed=r.processed,
                ))
            return list({m.id: m for m in batch}.values())

        def events_of(batch: list[Memory]) -> list[MemoryEvent]:
            # No copy of the text: the memory holds it, and imports are the hot path.
            return [self.event(m, "created", "import", detail={"origin": m.origin})
                    for m in batch]

        def embed(batch: list[Memory]) -> Any:
            return self.embedder.embed([m.content for m in batch])

        from concurrent.futures import ThreadPoolExecutor

        starts = list(range(0, len(records), batch_size))
        # The next batch is embedded on a second thread while this one is sealed and
        # written: the tokenizer and numpy release the GIL, so the two overlap on 2 cores.
        with ThreadPoolExecutor(max_workers=1) as pool:
            upcoming = memories_of(records[0:batch_size]) if starts else []
            pending = pool.submit(embed, upcoming) if upcoming else None
            for i, start in enumerate(starts):
                unique, vectors = upcoming, pending.result() if pending else None
                n = len(records[start:start + batch_size])
                if i + 1 < len(starts):
                    nxt = starts[i + 1]
                    upcoming = memories_of(records[nxt:nxt + batch_size])
                    pending = pool.submit(embed, upcoming)
                inserted = self._write(unique, vectors, events_of(unique))
                added += len(inserted)
                skipped += n - len(inserted)
                done += n
                if on_batch:
                    on_batch(done, added, len(records))
        return added, skipped

    def reindex(self, user_id: str, progress: Progress | None = None, batch: int = 500) -> int:
        """Re-embed and re-blind every memory of the user, then rebuild the vector index.

        Nothing is deleted up front: each batch replaces its own vectors, and a marker in
        the store (renewed by each batch) makes search refuse after an interrupted run (and
        say to run reindex again) until the last batch is in, so an interrupted reindex never
        leaves search quietly missing memories. Writes go on meanwhile (check_model)."""
        now = self.clock()
        total = self.store.count(user_id, now)
        self._mark_reindex(user_id)
        done = 0
        pending: list[tuple[bytes, Memory]] = []  # (the stored ciphertext it was read from, it)

        def flush() -> None:
            nonlocal done
            vectors = self.embedder.embed([m.content for _, m in pending])
            with self.store.transaction():
                # Writes go on while a reindex runs: a memory changed since it was read was
                # embedded with this model by its writer, and one forgotten meanwhile stays
                # forgotten, vector and all. Writing back the copy read earlier would undo both.
                now_stored = {s.id: s.content for s in
                              self.store.get_many(user_id, [m.id for _, m in pending], now)}
                kept = [(m, v) for (blob, m), v in zip(pending, vectors, strict=True)
                        if now_stored.get(m.id) == blob and self.store.update(self._seal(m))]
                self.index.upsert(user_id, [(m.id, m.category, v) for m, v in kept])
                self._mark_reindex(user_id)  # still running: writers and searches go on
            done += len(pending)
            pending.clear()
            if progress:
                progress(done, total)

        try:
            for sealed in self.store.iter_all(user_id, now):
                pending += [(sealed.content, m) for m in self._readable([sealed])]
                if len(pending) >= batch:
                    flush()
            if pending:
                flush()
        except BaseException:
            # Stopped (Ctrl-C, an error): say so at once, so search asks for a new run
            # instead of waiting for the lease of a reindex that is no longer there.
            with contextlib.suppress(Exception):
                self._mark_reindex(user_id, stopped=True)
            raise
        with self.store.transaction():
            self.store.set_meta(self._model_key(user_id), self.model_tag)
            self.store.set_meta(self._reindex_key(user_id), "")
        self.index.compact(user_id)
        self.store.sweep_orphans(user_id)
        if not self.atomic_index:  # vectors whose item is gone (DynamoDB TTL, a crash)
            live = {m.id for m in self.store.iter_all(user_id, 0.0)}  # expired too
            stale = [k for k in self.index.keys_of(user_id) if k not in live]
            if stale:
                self.index.delete(user_id, stale)
        return done

    def maintain(self, user_id: str) -> None:
        """Housekeeping a write command does after its output is shown."""
        self.index.maintain(user_id)


def _unreadable(memory_id: str, why: str) -> UnreadableRecord:
    return UnreadableRecord(f"{why.rstrip('.')}. Remove it with `pai memory forget {memory_id}`, "
                            "or restore the database from a backup.")
