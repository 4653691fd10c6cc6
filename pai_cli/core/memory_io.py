"""Memories in and out in bulk: import (batched, all-or-nothing per batch) and reindex
(re-embed and re-blind every memory while writes go on)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pai_cli.core.ids import derived_memory_id
from pai_cli.ports import Progress
from pai_cli.records import ImportRecord, Memory, MemoryEvent

if TYPE_CHECKING:
    from pai_cli.core.memory_service import MemoryService


def import_records(
    service: MemoryService,
    user_id: str,
    records: Sequence[ImportRecord],
    batch_size: int = 500,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> tuple[int, int]:
    """Write validated records in all-or-nothing batches. Returns (added, skipped).

    on_batch(done, added, total) runs after each batch is committed, never before.
    """
    now = service.clock()
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
                expires_at=service.expiry(created, r.pinned),
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
        return [service.event(m, "created", "import", detail={"origin": m.origin})
                for m in batch]

    def embed(batch: list[Memory]) -> list[list[Any]]:
        return service.embed_memories([m.content for m in batch])

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
            inserted = service.write(unique, vectors, events_of(unique))
            added += len(inserted)
            skipped += n - len(inserted)
            done += n
            if on_batch:
                on_batch(done, added, len(records))
    return added, skipped


def reindex(service: MemoryService, user_id: str, progress: Progress | None = None,
            batch: int = 500) -> int:
    """Re-embed and re-blind every memory of the user, then rebuild the vector index.

    Nothing is deleted up front: each batch replaces its own vectors, and a marker in
    the store (renewed by each batch) makes search refuse after an interrupted run (and
    say to run reindex again) until the last batch is in, so an interrupted reindex never
    leaves search quietly missing memories. Writes go on meanwhile (check_model)."""
    now = service.clock()
    total = service.store.count(user_id, now)
    service.stamp.mark_reindex(user_id)
    done = 0
    pending: list[tuple[bytes, Memory]] = []  # (the stored ciphertext it was read from, it)

    def flush() -> None:
        nonlocal done
        vectors = service.embed_memories([m.content for _, m in pending])
        with service.store.transaction():
            # Writes go on while a reindex runs: a memory changed since it was read was
            # embedded with this model by its writer, and one forgotten meanwhile stays
            # forgotten, vector and all. Writing back the copy read earlier would undo both.
            now_stored = {s.id: s.content for s in
                          service.store.get_many(user_id, [m.id for _, m in pending], now)}
            kept = [(m, v) for (blob, m), v in zip(pending, vectors, strict=True)
                    if now_stored.get(m.id) == blob and service.store.update(service.sealer.seal(m))]
            service.index.upsert(user_id, [(m.id, m.category, v) for m, vs in kept for v in vs])
            service.stamp.mark_reindex(user_id)  # still running: writers and searches go on
        done += len(pending)
        pending.clear()
        if progress:
            progress(done, total)

    try:
        for sealed in service.store.iter_all(user_id, now):
            pending += [(sealed.content, m) for m in service.sealer.readable([sealed])]
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
    except BaseException:
        # Stopped (Ctrl-C, an error): say so at once, so search asks for a new run
        # instead of waiting for the lease of a reindex that is no longer there.
        with contextlib.suppress(Exception):
            service.stamp.mark_reindex(user_id, stopped=True)
        raise
    with service.store.transaction():
        service.stamp.finish_reindex(user_id)
    service.index.compact(user_id)
    service.store.sweep_orphans(user_id)
    if not service.atomic_index:  # vectors whose item is gone (DynamoDB TTL, a crash)
        live = {m.id for m in service.store.iter_all(user_id, 0.0)}  # expired too
        stale = [k for k in service.index.keys_of(user_id) if k not in live]
        if stale:
            service.index.delete(user_id, stale)
    return done
