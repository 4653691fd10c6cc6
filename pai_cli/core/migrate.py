"""Moving a user's memories from one home to another: decrypted with the source's keys,
re-embedded and encrypted with the target's, ids kept, so a second run resumes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pai_cli.core.memory_service import MemoryService
from pai_cli.records import ImportRecord


@dataclass(frozen=True)
class MigrationResult:
    moved: int
    already_there: int
    total: int


def migrate_memories(
    source: MemoryService,
    target: MemoryService,
    user_id: str,
    batch: int = 200,
    on_batch: Callable[[int, int], None] | None = None,
    target_user: str | None = None,
) -> MigrationResult:
    """on_batch(done, total) after each batch is written to the target; target_user: the
    user they are filed under there (default the same), e.g. one person's memories kept
    under two names (the OS user and the AWS identity) brought together."""
    to = target_user or user_id
    total = source.count(user_id)
    moved = skipped = done = 0
    pending: list[ImportRecord] = []

    def flush() -> None:
        nonlocal moved, skipped, done
        added, existing = target.import_records(to, pending, batch_size=len(pending))
        moved, skipped, done = moved + added, skipped + existing, done + len(pending)
        pending.clear()
        if on_batch:
            on_batch(done, total)

    for m in source.export(user_id):
        pending.append(ImportRecord(
            line=done + len(pending) + 1, content=m.content, category=m.category,
            created_at=m.created_at, id=m.id, pinned=m.pinned,
            source_conversation=m.source_conversation, source_message=m.source_message,
            origin=m.origin, importance=m.importance, valid_from=m.valid_from,
            valid_to=m.valid_to, superseded_by=m.superseded_by, status=m.status,
            sources=m.sources, processed=m.processed,
        ))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return MigrationResult(moved, skipped, total)
