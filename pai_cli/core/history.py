"""How a memory came to be, what changed lately, and undoing a change.

Undo never rewrites history: it is a new change (actor "undo") that puts back what the
reverted event changed, recorded beside it. An event of a batch (one exchange's
decisions) is undone with the rest of its batch, newest first, so a supersede and the fact
that replaced it come back together."""

from __future__ import annotations

from dataclasses import replace

from pai_cli.core.events import new_batch_id, new_event_id, open_event
from pai_cli.core.memory_service import MemoryService
from pai_cli.errors import InputError, NotFound
from pai_cli.records import ACTIVE, RETIRED, Memory, MemoryEvent

_FIELDS = ("status", "category", "importance", "valid_from", "valid_to", "superseded_by",
           "pinned", "expires_at", "conflicts_with", "processed")


class HistoryService:
    def __init__(self, memories: MemoryService) -> None:
        self.memories = memories
        self.events = memories.events

    def _open(self, sealed: list) -> list[MemoryEvent]:
        return [open_event(self.memories.cipher, s) for s in sealed]

    def history(self, user_id: str, id_or_prefix: str) -> tuple[Memory | None, list[MemoryEvent]]:
        """The memory (None once the user forgot it) and its events, oldest first."""
        try:
            memory_id = self.memories.resolve(user_id, id_or_prefix)
        except NotFound:
            # Forgotten for good: its events (without their texts) still say so.
            events = self._open(self.events.of_memory(user_id, id_or_prefix.strip()))
            if not events:
                raise
            return None, events
        memory = self.memories.get(user_id, memory_id)
        return memory, self._open(self.events.of_memory(user_id, memory_id))

    def log(self, user_id: str, since: float, limit: int = 100) -> list[MemoryEvent]:
        if limit < 1:
            raise InputError("--limit must be at least 1.")
        return self._open(self.events.since(user_id, since, limit))

    def resolve_event(self, user_id: str, id_or_prefix: str) -> str:
        wanted = id_or_prefix.strip()
        found = self.events.resolve_event(user_id, wanted)
        if found and found != [wanted] and len(wanted.removeprefix("evt-")) < 4:
            raise InputError(f"{wanted!r} is too short to pick an event: give at least 4 "
                             "characters of the id after evt-.")
        if not found:
            raise NotFound(f"No event {wanted!r} for user {user_id!r}: see `pai memory log`.")
        if len(found) > 1:
            raise InputError(f"{wanted!r} matches {len(found)} events: give more of it.")
        return found[0]

    def _undone(self, user_id: str, event: MemoryEvent) -> str | None:
        for later in self._open(self.events.of_memory(user_id, event.memory_id)):
            if later.detail.get("undoes") == event.id:
                return later.id
        return None

    def undo(self, user_id: str, id_or_prefix: str) -> list[MemoryEvent]:
        """Revert one event, or the whole batch it belongs to. Returns the new events."""
        first = open_event(self.memories.cipher, self.events.get_event(
            user_id, self.resolve_event(user_id, id_or_prefix)))  # type: ignore[arg-type]
        group = [first]
        if first.batch:
            group = self._open(self.events.of_batch(user_id, first.batch))
        todo = [e for e in reversed(group) if self._undone(user_id, e) is None]
        if not todo:
            by = self._undone(user_id, first)
            raise InputError(f"Event {first.id} was already undone (by {by}).")
        for e in todo:
            if e.detail.get("deleted"):
                raise InputError(f"Event {e.id} forgot memory {e.memory_id} for good (you "
                                 "asked for that): it cannot be undone.")
        batch = new_batch_id()
        made: list[MemoryEvent] = []
        with self.memories.store.transaction():
            for e in todo:
                made += self._revert(user_id, e, batch)
        return made

    def _revert(self, user_id: str, e: MemoryEvent, batch: str) -> list[MemoryEvent]:
        mem = self.memories
        try:
            current = mem.get(user_id, e.memory_id)
        except NotFound:
            raise InputError(f"Memory {e.memory_id} of event {e.id} is gone (forgotten or "
                             "expired): nothing to undo.") from None
        detail = {"undoes": e.id}
        if e.kind == "created":
            if current.status == RETIRED:
                return []
            new = replace(current, status=RETIRED, updated_at=mem.clock())
            kind = "forgotten"
        else:
            back = {f: old for f, (old, _) in e.detail.get("changes", {}).items()
                    if f in _FIELDS}
            new = replace(current, **back, updated_at=mem.clock())
            if e.before is not None:
                new = replace(new, content=e.before)
            kind = ("restored" if current.status != ACTIVE and new.status == ACTIVE
                    else "forgotten" if new.status == RETIRED and current.status != RETIRED
                    else "updated")
        eid = new_event_id()
        mem.change(current, new, kind, "undo", batch=batch, detail=detail, event_id=eid)
        return [open_event(mem.cipher, mem.events.get_event(user_id, eid))]  # type: ignore[arg-type]
