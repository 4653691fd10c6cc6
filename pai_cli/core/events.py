"""Memory events: making them, sealing their texts, opening them again."""

from __future__ import annotations

import uuid

from pai_cli.ports import Cipher
from pai_cli.records import MemoryEvent, SealedEvent

BEFORE, AFTER = "event-before", "event-after"
"""Record kinds of an event's two texts: one cannot be swapped for the other."""
_NS = uuid.UUID("3c0f7a2e-5b41-4d6e-9a58-0e7f1b2c3d4e")


def new_event_id() -> str:
    return f"evt-{uuid.uuid4()}"


def derived_event_id(*parts: str) -> str:
    """A stable id for an event a retried job writes again: the retry is then a no-op."""
    return f"evt-{uuid.uuid5(_NS, chr(31).join(parts))}"


def new_batch_id() -> str:
    return f"bat-{uuid.uuid4()}"


def seal_event(cipher: Cipher, e: MemoryEvent) -> SealedEvent:
    def seal(kind: str, text: str | None) -> bytes | None:
        return None if text is None else cipher.seal(e.user_id, kind, e.id, text)

    return SealedEvent(e.id, e.user_id, e.memory_id, e.kind, e.actor, e.at, e.batch,
                       tuple(e.sources), e.model, seal(BEFORE, e.before), seal(AFTER, e.after),
                       dict(e.detail))


def open_event(cipher: Cipher, s: SealedEvent) -> MemoryEvent:
    def open_(kind: str, blob: bytes | None) -> str | None:
        return None if blob is None else cipher.open(s.user_id, kind, s.id, blob)

    return MemoryEvent(s.id, s.user_id, s.memory_id, s.kind, s.actor, s.at, s.batch,
                       tuple(s.sources), s.model, open_(BEFORE, s.before),
                       open_(AFTER, s.after), dict(s.detail))
