"""A memory sealed for its store and opened again, and the records that cannot be."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

from pai_cli.core import text
from pai_cli.errors import UnreadableRecord
from pai_cli.ports import Cipher
from pai_cli.records import Memory, SealedMemory

KIND = "memory"
SHOWABLE = (-62135596800.0, 253402300799.0)
"""0001-01-01 to 9999-12-31 (UTC): the dates a record can be shown with (records.iso)."""


class MemorySealer:
    def __init__(self, cipher: Cipher, keywords: bool,
                 notify: Callable[[str], None] | None = None) -> None:
        """keywords: the store searches blinded terms, so each memory carries them.
        notify: where to tell the user about a memory that cannot be read (once each)."""
        self.cipher = cipher
        self.keywords = keywords
        self.notify = notify
        self.unreadable: dict[str, str] = {}
        """Memories left out of a read because they cannot be read: id -> why."""

    def seal(self, m: Memory) -> SealedMemory:
        blob = self.cipher.seal(m.user_id, KIND, m.id, m.content)
        terms = ""
        if self.keywords:
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

    def open(self, s: SealedMemory) -> Memory:
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

    def readable(self, rows: Iterable[SealedMemory]) -> Iterator[Memory]:
        """Every row that can be read; the others are left out and named (once each), so
        one damaged record never blocks the rest of the user's memories."""
        for s in rows:
            try:
                yield self.open(s)
            except UnreadableRecord as e:
                if s.id not in self.unreadable:
                    self.unreadable[s.id] = e.message
                    if self.notify is not None:
                        self.notify(f"left out: {e.message}")


def _unreadable(memory_id: str, why: str) -> UnreadableRecord:
    return UnreadableRecord(f"{why.rstrip('.')}. Remove it with `pai memory forget {memory_id}`, "
                            "or restore the database from a backup.")
